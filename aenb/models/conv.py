"""Convolutional autoencoders (notebook 04).

:class:`ConvAutoencoder` is the Keras-style convolutional autoencoder of notebook 04's original, a
Chinese blog post whose code matches chapter 2 of S. Y. Cheong, *Hands-On Image Generation with
TensorFlow* (Packt, 2020; repository PacktPublishing/Hands-On-Image-Generation-with-TensorFlow-2.0,
``Chapter02/ch2_autoencoder.ipynb``). It is not the max-pooling model of the Keras blog's "Building
Autoencoders in Keras" (Chollet, 2016): four small 3x3 convolutions encode a 28x28 digit, two of them
with stride 2 (28 -> 14 -> 7), a Dense layer makes the code; the decoder grows a 7x7x64 block back to
28x28 with nearest-neighbour upsampling followed by 3x3 convolutions, as upstream. ``extra_conv=True``
adds the post's extra convolution (see :class:`ConvAutoencoder` for the post's two bugs);
``decoder="transpose"`` replaces each "upsample, then convolve" pair by one transposed convolution,
as many PyTorch tutorials do.

:class:`FastConvAutoencoder` is ours, designed for time to quality on a CPU: two stride-2
convolutions with BatchNorm (28 -> 14 -> 7), a small MLP around the code, and two stride-2
transposed convolutions back, with a kernel of 4 (a multiple of the stride, so the kernel copies overlap
evenly); ``kernel_size=3`` rebuilds the uneven overlap that makes checkerboard artefacts
(Odena, Dumoulin & Olah, 2016, https://distill.pub/2016/deconv-checkerboard/).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .common import check_codes, check_images

#: Decoder feature map after the first Dense layer: 64 channels of 7x7.
DECODER_SHAPE = (64, 7, 7)
DECODERS = ("upsample", "transpose")
LATENT_ACTIVATIONS = (None, "relu")
INITS = ("keras", "torch")


def same_padding(size: int, kernel_size: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """Keras/TensorFlow ``padding="same"``: ``(before, after)`` zeros for one spatial dimension.

    The output has ``ceil(size / stride)`` positions; when the total padding is odd, the extra
    zero goes *after* (bottom / right). PyTorch's symmetric ``padding=1`` gives the same output
    size for a 3x3 kernel with stride 2 on an even input, but samples positions shifted by one
    pixel; :class:`Conv2dSame` pads exactly as Keras does.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel_size - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with Keras' ``padding="same"`` for any stride.

    PyTorch accepts ``padding="same"`` only for stride 1; for stride 2 Keras pads
    asymmetrically (``(0, 1)`` for a 3x3 kernel on 28 or 14 pixels), which this layer
    reproduces. It has exactly the parameters of ``nn.Conv2d``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = same_padding(x.shape[-2], self.kernel_size[0], self.stride[0], self.dilation[0])
        left, right = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1], self.dilation[1])
        if top == bottom and left == right:
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), self.dilation, self.groups)
        return F.conv2d(F.pad(x, (left, right, top, bottom)), self.weight, self.bias, self.stride, 0,
                        self.dilation, self.groups)


def _conv(n_in: int, n_out: int, stride: int = 1) -> nn.Module:
    # Stride 1: PyTorch's own padding="same" (identical to Keras for a 3x3 kernel).
    return nn.Conv2d(n_in, n_out, 3, padding="same") if stride == 1 else Conv2dSame(n_in, n_out, 3, stride)


def _up_block(n_in: int, n_out: int, decoder: str, activation: type[nn.Module] = nn.ReLU) -> list[nn.Module]:
    """Double the resolution: nearest upsampling then a 3x3 conv, or one 3x3 stride-2 transposed conv."""
    if decoder == "upsample":
        return [nn.Upsample(scale_factor=2, mode="nearest"), _conv(n_in, n_out), activation()]
    # kernel 3, stride 2: "same" output size 2x; the kernel overlaps itself unevenly (3 is not a
    # multiple of 2), the textbook source of checkerboard artefacts.
    return [nn.ConvTranspose2d(n_in, n_out, 3, stride=2, padding=1, output_padding=1), activation()]


def _keras_init(module: nn.Module) -> None:
    """Keras' default initialisers: Glorot-uniform weights, zero biases."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)


class _ConvCodec(nn.Module):
    """What both autoencoders share: ``encoder`` / ``decoder`` Sequentials and the input checks."""

    encoder: nn.Sequential
    decoder: nn.Sequential
    latent_dim: int

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 1, 28, 28)`` to codes ``(N, latent_dim)``."""
        check_images(x, f"{type(self).__name__}.encode")
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes ``(N, latent_dim)`` to images ``(N, 1, 28, 28)`` in ``[0, 1]``."""
        check_codes(z, self.latent_dim, f"{type(self).__name__}.decode")
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class ConvAutoencoder(_ConvCodec):
    """The original's Keras-style convolutional autoencoder, with the blog post's two bugs fixed.

    Encoder: Conv(8, 3x3, stride 2) -> Conv(8) -> Conv(8, stride 2) -> Conv(8), each with a
    ReLU and Keras' "same" padding (28 -> 14 -> 7 pixels), then Flatten (392) and a Dense
    layer to the ``latent_dim`` code. Decoder, as in Cheong's upstream notebook: Dense(7*7*64) +
    ReLU -> reshape to 64x7x7 -> Conv(64) -> [upsample x2 -> Conv(32)] -> [upsample x2 ->
    Conv(1) + Sigmoid]. ``extra_conv=True`` adds the post's 32 -> 32 convolution after the second
    upsampling (at 28x28, before the output convolution), which is in the post's text but not in
    the upstream code; it more than doubles the model's arithmetic (notebook 04 counts it).

    The post differs from the upstream code in two places, both bugs:

    * that extra 32-channel convolution has stride 2, so the output would be 14x14, not 28x28
      (``extra_conv=True`` builds it with stride 1);
    * its code layer has a ReLU (upstream: a linear ``Dense(z_dim)``). Codes are then non-negative
      (half the code space unused), and a code unit whose input is negative for every image
      outputs 0 and gets no gradient: it is *dead* for good. ``latent_activation="relu"``
      rebuilds that variant.

    Trained with a common porting recipe that is *not* the original's (MSE through the sigmoid with
    Adam at 1e-3 from the first step; upstream uses RMSprop at 3e-4, batches of 256), the post's
    layers (``extra_conv=True``, with or without the ReLU code) froze with all-black outputs in
    notebook 04's runs, in float32 on a CPU too; notebook 04 also runs the book's layers that way.
    The first Adam steps push every output pixel towards 0 (most MNIST pixels are 0) until the sigmoid
    saturates and the MSE gradient through it vanishes; a learning-rate warm-up, or the cross-entropy
    loss (whose gradient on the sigmoid's input is ``x_hat - x``), avoids it.

    Args:
        latent_dim: size of the code.
        decoder: ``"upsample"`` (the original: nearest-neighbour upsampling then a 3x3 convolution)
            or ``"transpose"`` (each such pair replaced by a 3x3, stride-2 ``ConvTranspose2d``
            with the same number of parameters).
        latent_activation: ``None`` (linear code, as upstream) or ``"relu"`` (the post's bug).
        extra_conv: add the post's 32 -> 32 convolution at 28x28 (not in the upstream code).
        init: ``"keras"`` (default): Glorot-uniform weights and zero biases, the defaults of the
            original's Keras layers; ``"torch"``: PyTorch's defaults (uniform weights *and biases*
            of scale ``1/sqrt(fan_in)``), with which this model collapsed in our runs.
    """

    def __init__(
        self,
        latent_dim: int = 10,
        decoder: str = "upsample",
        latent_activation: str | None = None,
        init: str = "keras",
        extra_conv: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive int, got {latent_dim!r}")
        if decoder not in DECODERS:
            raise ValueError(f"unknown decoder {decoder!r}: expected one of {DECODERS}")
        if latent_activation not in LATENT_ACTIVATIONS:
            raise ValueError(f"unknown latent_activation {latent_activation!r}: expected one of {LATENT_ACTIVATIONS}")
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}: expected one of {INITS}")
        if not isinstance(extra_conv, bool):
            raise ValueError(f"extra_conv must be True or False, got {extra_conv!r}")
        self.config = {"latent_dim": latent_dim, "decoder": decoder, "latent_activation": latent_activation,
                       "init": init, "extra_conv": extra_conv}
        self.latent_dim = latent_dim
        code: list[nn.Module] = [nn.Linear(8 * 7 * 7, latent_dim)]
        if latent_activation == "relu":
            code.append(nn.ReLU())
        self.encoder = nn.Sequential(
            _conv(1, 8, stride=2), nn.ReLU(),   # 28 -> 14
            _conv(8, 8), nn.ReLU(),
            _conv(8, 8, stride=2), nn.ReLU(),   # 14 -> 7
            _conv(8, 8), nn.ReLU(),
            nn.Flatten(),
            *code,
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, 64 * 7 * 7), nn.ReLU(),
            nn.Unflatten(1, DECODER_SHAPE),
            _conv(64, 64), nn.ReLU(),
            *_up_block(64, 32, decoder),        # 7 -> 14
            # 14 -> 28: upstream upsamples and convolves straight to the 1-channel output; the post
            # has one more 32 -> 32 convolution at 28x28 first.
            *([*_up_block(32, 32, decoder), _conv(32, 1), nn.Sigmoid()] if extra_conv
              else _up_block(32, 1, decoder, nn.Sigmoid)),
        )
        if init == "keras":
            self.apply(_keras_init)



class FastConvAutoencoder(_ConvCodec):
    """Our convolutional autoencoder: cheap convolutions with BatchNorm and an MLP around the code.

    Encoder: Conv(``width``, 3x3, stride 2) -> Conv(``2 * width``, 3x3, stride 2) (28 -> 14 -> 7),
    each with BatchNorm and a ReLU, then Flatten, Dense(``hidden``) + BatchNorm + ReLU, and a
    linear Dense to the code. Decoder: Dense(``hidden``) + BatchNorm + ReLU, Dense to ``2 * width``
    maps of 7x7 + ReLU, Conv(3x3) + BatchNorm + ReLU at 7x7, ConvTranspose(``width``, stride 2)
    + BatchNorm + ReLU (7 -> 14), ConvTranspose(1, stride 2) (14 -> 28) and a sigmoid, so
    ``model(x)`` is an image in ``[0, 1]`` like every model of the series; train it with the
    binary cross-entropy (``loss="bce"``).

    Compared with :class:`ConvAutoencoder` it never convolves at 28x28 with more than one
    channel (where the original's decoder spends most of its arithmetic), and the hidden Dense
    layer on each side of the code gives the 10 numbers a non-linear map in and out; BatchNorm
    (Ioffe & Szegedy, 2015, https://arxiv.org/abs/1502.03167) lets it train at a high learning
    rate from the first step.

    Args:
        latent_dim: size of the code.
        width: channels of the first convolution (the second has twice as many).
        hidden: units of the Dense layer on each side of the code.
        kernel_size: of both transposed convolutions: 4 (default; a multiple of the stride 2,
            so every output pixel gets the same number of kernel copies) or 3 (uneven overlap:
            the setting in which checkerboard artefacts appear).
    """

    def __init__(self, latent_dim: int = 10, width: int = 32, hidden: int = 256, kernel_size: int = 4) -> None:
        super().__init__()
        for name, value in (("latent_dim", latent_dim), ("width", width), ("hidden", hidden)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if kernel_size not in (3, 4):
            raise ValueError(f"kernel_size must be 3 or 4, got {kernel_size!r}")
        self.config = {"latent_dim": latent_dim, "width": width, "hidden": hidden, "kernel_size": kernel_size}
        self.latent_dim = latent_dim
        c1, c2 = width, 2 * width
        # kernel 4, padding 1: output 2x the input; kernel 3 needs output_padding=1 for the same size.
        up = {"kernel_size": kernel_size, "stride": 2, "padding": 1, "output_padding": 1 if kernel_size == 3 else 0}
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 3, stride=2, padding=1), nn.BatchNorm2d(c1), nn.ReLU(),    # 28 -> 14
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.BatchNorm2d(c2), nn.ReLU(),   # 14 -> 7
            nn.Flatten(),
            nn.Linear(c2 * 7 * 7, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
            nn.Linear(hidden, latent_dim),                                              # linear code
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
            nn.Linear(hidden, c2 * 7 * 7), nn.ReLU(),
            nn.Unflatten(1, (c2, 7, 7)),
            nn.Conv2d(c2, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(),
            nn.ConvTranspose2d(c2, c1, **up), nn.BatchNorm2d(c1), nn.ReLU(),           # 7 -> 14
            nn.ConvTranspose2d(c1, 1, **up),                                            # 14 -> 28
            nn.Sigmoid(),
        )
