"""Convolutional denoising autoencoders (notebook 05).

:class:`OriginalDenoiser` is the convolutional denoising autoencoder of a popular tutorial ("the
original": Nelson Zhao's ``ConvDAE.ipynb``, TensorFlow 1, 2017): three 3x3 convolution +
max-pooling stages with 64, 64 and 32 filters shrink a digit 28 -> 14 -> 7 -> 4, and a decoder
of nearest-neighbour resizes, each followed by a 3x3 convolution, grows it back 4 -> 7 -> 14 -> 28.
Most of its arithmetic is the 64-filter convolution at full 28x28 resolution: 29 of its 42 million
multiply-adds per image.

:class:`FastDenoiser` is ours: the same encoder-decoder idea at a quarter of the resolution.
It never convolves at 28x28 -- the first convolution has stride 2, and the last one predicts
each 2x2 block of output pixels at 14x14 and rearranges them with ``nn.PixelShuffle``
(sub-pixel convolution, Shi et al., 2016). It needs a third of the original's multiply-adds
(14 million per image) and, on a 2-core CPU, trains several times faster per epoch, since
full-resolution 64-channel maps also cost memory traffic.

Both end in a sigmoid, so ``model(noisy)`` is the denoised image in ``[0, 1]`` like every model
of the series. The original trains with sigmoid cross-entropy on logits; we train on the sigmoid's
output with ``nn.functional.binary_cross_entropy``, the same loss (PyTorch clamps its log at
-100, so a saturated pixel cannot produce an infinite loss).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .common import check_images

#: The original's code: 32 feature maps of 4x4 (512 numbers, fewer than the 784 pixels).
ORIGINAL_CODE_SHAPE = (32, 4, 4)


class _Resize(nn.Module):
    """Nearest-neighbour resize to ``size x size`` (TensorFlow's ``resize_nearest_neighbor``)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=(self.size, self.size), mode="nearest")

    def extra_repr(self) -> str:
        return f"size={self.size}"


def _conv_relu(n_in: int, n_out: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(n_in, n_out, 3, stride=stride, padding=1), nn.ReLU()]


class _Denoiser(nn.Module):
    """What both denoisers share: an encoder, a decoder ending in a sigmoid, input checks."""

    encoder: nn.Sequential
    decoder: nn.Sequential

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Noisy images ``(N, 1, 28, 28)`` to feature maps (the code)."""
        check_images(x, f"{type(self).__name__}.encode")
        return self.encoder(x)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Feature maps to denoised images ``(N, 1, 28, 28)`` in ``[0, 1]``."""
        return self.decoder(code)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class OriginalDenoiser(_Denoiser):
    """The original's convolutional denoising autoencoder (121,281 parameters).

    Encoder: [Conv(64) -> MaxPool] -> [Conv(64) -> MaxPool] -> [Conv(32) -> MaxPool], all 3x3
    with ReLU and "same" padding, pooling 2x2 with the last row and column kept (``ceil_mode``,
    as TensorFlow's ``padding="same"``): 28 -> 14 -> 7 -> 4. Decoder: resize to 7 -> Conv(32)
    -> resize to 14 -> Conv(64) -> resize to 28 -> Conv(64) -> Conv(1), then the sigmoid.
    """

    def __init__(self) -> None:
        super().__init__()
        self.config: dict = {}
        pool = lambda: nn.MaxPool2d(2, ceil_mode=True)  # noqa: E731
        self.encoder = nn.Sequential(
            *_conv_relu(1, 64), pool(),    # 28 -> 14
            *_conv_relu(64, 64), pool(),   # 14 -> 7
            *_conv_relu(64, 32), pool(),   # 7 -> 4
        )
        self.decoder = nn.Sequential(
            _Resize(7), *_conv_relu(32, 32),
            _Resize(14), *_conv_relu(32, 64),
            _Resize(28), *_conv_relu(64, 64),
            nn.Conv2d(64, 1, 3, padding=1), nn.Sigmoid(),
        )


def _conv_bn_relu(n_in: int, n_out: int, stride: int = 1) -> list[nn.Module]:
    # No bias: the batch normalisation right after it has its own shift.
    return [nn.Conv2d(n_in, n_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(n_out), nn.ReLU()]


class FastDenoiser(_Denoiser):
    """Our convolutional denoising autoencoder: a third of the original's arithmetic, better results.

    What changed, and why:

    * **No convolution at 28x28.** The original spends two thirds of its arithmetic on one
      64-filter convolution at full resolution. Here the first convolution already has
      stride 2 (28 -> 14), and the last one predicts the four pixels of every 2x2 output
      block from a 14x14 map, rearranged by ``nn.PixelShuffle(2)`` ("sub-pixel
      convolution", Shi et al., 2016, which also avoids checkerboard artefacts).
    * **Depth where it is cheap.** Three extra 64-filter convolutions at 7x7 (each costs a
      sixteenth of the same layer at 28x28) let every output pixel see most of the digit:
      heavy noise can only be removed by knowing which digit it is.
    * **Batch normalisation** (Ioffe & Szegedy, 2015) after each hidden convolution, which makes
      the larger learning rate 0.002 trainable; notebook 05's ablation measures what removing it
      (and each other ingredient) costs.

    Encoder: Conv(32, stride 2) -> Conv(32) -> Conv(64, stride 2) -> 3 x Conv(64), all 3x3 with
    batch norm and ReLU (28 -> 14 -> 7; the code is 64 maps of 7x7). Decoder: Conv(128) ->
    PixelShuffle(2) (32 maps of 14x14) -> Conv(32) -> Conv(4) -> PixelShuffle(2) (28x28), sigmoid.
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive int, got {width!r}")
        self.config = {"width": width}
        w, w2 = width, 2 * width
        self.encoder = nn.Sequential(
            *_conv_bn_relu(1, w, stride=2),   # 28 -> 14
            *_conv_bn_relu(w, w),
            *_conv_bn_relu(w, w2, stride=2),  # 14 -> 7
            *_conv_bn_relu(w2, w2),
            *_conv_bn_relu(w2, w2),
            *_conv_bn_relu(w2, w2),
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(w2, 4 * w, 3, padding=1), nn.PixelShuffle(2), nn.ReLU(),  # 7 -> 14
            *_conv_bn_relu(w, w),
            nn.Conv2d(w, 4, 3, padding=1), nn.PixelShuffle(2),                 # 14 -> 28
            nn.Sigmoid(),
        )
