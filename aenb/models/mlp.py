"""Fully-connected autoencoders (notebook 01, 02)."""

from __future__ import annotations

import torch
from torch import nn

from .common import IMAGE_SHAPE, check_codes, check_images

_ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}


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
