"""The autoencoders of the series.

Every model has ``encode(x) -> z``, ``decode(z) -> x_hat`` and ``forward(x) = decode(encode(x))``,
takes images of shape ``(N, 1, 28, 28)`` with values in ``[0, 1]`` and returns the same
shape. Each keeps the arguments it was built with in ``self.config`` so a checkpoint can
rebuild it (see :mod:`aenb.checkpoints`).
"""

from __future__ import annotations

import torch
from torch import nn

IMAGE_SHAPE = (1, 28, 28)
_ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}


def check_images(x: torch.Tensor, who: str, *, allow_flat: bool = False) -> None:
    """Raise a clear error unless ``x`` is a float batch of 28x28 single-channel images."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{who} expects a torch.Tensor of images, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"{who} expects float images in [0, 1], got dtype {x.dtype}; "
            f"convert with x.float() / 255 (aenb.data.load_dataset already does)"
        )
    if x.ndim == 4 and tuple(x.shape[1:]) == IMAGE_SHAPE:
        return
    if allow_flat and x.ndim == 2 and x.shape[1] == 784:
        return
    expected = "(N, 1, 28, 28)" + (" or (N, 784)" if allow_flat else "")
    raise ValueError(f"{who} expects images of shape {expected}, got {tuple(x.shape)}")


def check_codes(z: torch.Tensor, latent_dim: int, who: str) -> None:
    """Raise a clear error unless ``z`` is a float batch of ``latent_dim``-dimensional codes."""
    if not isinstance(z, torch.Tensor):
        raise TypeError(f"{who} expects a torch.Tensor of codes, got {type(z).__name__}")
    if not z.is_floating_point():
        raise TypeError(f"{who} expects float codes, got dtype {z.dtype}")
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"{who} expects codes of shape (N, {latent_dim}), got {tuple(z.shape)}")


def _mlp(sizes: list[int], activation: str, last_activation: str | None) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        is_last = i == len(sizes) - 2
        act = last_activation if is_last else activation
        if act is not None:
            layers.append(_ACTIVATIONS[act]())
    return nn.Sequential(*layers)


class MLPAutoencoder(nn.Module):
    """A fully-connected autoencoder with a mirrored decoder.

    ``sizes=(784, 128, 64, 12, 3)`` with ``activation="tanh"`` is the classic PyTorch
    tutorial model of notebook 01: three Tanh hidden layers squeeze each image into a
    3-number code, the decoder mirrors them and ends in a Sigmoid so pixels lie in
    ``[0, 1]``. ``sizes=(784, 64), activation="relu", code_activation=True`` is the shallow
    Keras-blog autoencoder whose 64 ReLU units we draw as 8x8 images.

    Args:
        sizes: layer widths from the input (784) down to the code size.
        activation: hidden-layer non-linearity, ``"tanh"`` or ``"relu"``.
        code_activation: apply ``activation`` to the code too (the shallow model does;
            the deep model keeps an unbounded linear code).
    """

    def __init__(
        self,
        sizes: tuple[int, ...] | list[int] = (784, 128, 64, 12, 3),
        activation: str = "tanh",
        code_activation: bool = False,
    ) -> None:
        super().__init__()
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or sizes[0] != 784 or min(sizes) < 1:
            raise ValueError(f"sizes must start at 784 and have at least two positive entries, got {sizes}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}: expected one of {sorted(_ACTIVATIONS)}")
        self.config = {"sizes": sizes, "activation": activation, "code_activation": bool(code_activation)}
        self.latent_dim = sizes[-1]
        self.encoder = _mlp(sizes, activation, activation if code_activation else None)
        self.decoder = _mlp(sizes[::-1], activation, "sigmoid")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 1, 28, 28)`` (or flat ``(N, 784)``) to codes ``(N, latent_dim)``."""
        check_images(x, f"{type(self).__name__}.encode", allow_flat=True)
        return self.encoder(x.reshape(len(x), 784))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes ``(N, latent_dim)`` to images ``(N, 1, 28, 28)`` in ``[0, 1]``."""
        check_codes(z, self.latent_dim, f"{type(self).__name__}.decode")
        return self.decoder(z).reshape(len(z), *IMAGE_SHAPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
