"""What every model of the series shares: the image shape and clear input checks."""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

IMAGE_SHAPE = (1, 28, 28)


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


def reconstruction_of(output: Any) -> torch.Tensor:
    """The reconstructed images in a model's output (VAEs return a tuple, image first)."""
    return output[0] if isinstance(output, (tuple, list)) else output


def binary_cross_entropy(probs: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """``F.binary_cross_entropy`` that turns NaN probabilities into a NaN loss instead of an error.

    PyTorch refuses a NaN input ("all elements of input should be between 0 and 1"; on a GPU a
    device-side assert that ends the process), so a diverging model would die mid-epoch and never
    reach ``fit``'s divergence guard. Here the NaN (or infinity) is replaced before the kernel and
    put back into the loss by ``+ 0 * probs.sum()``; finite inputs give exactly torch's value and
    gradient.
    """
    safe = probs.nan_to_num(nan=0.5, posinf=1.0, neginf=0.0)
    return F.binary_cross_entropy(safe, target, reduction=reduction) + 0 * probs.sum()
