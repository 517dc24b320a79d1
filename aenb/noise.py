"""Noise for denoising autoencoders (notebook 05).

A denoising autoencoder (Vincent et al., 2008) is trained to map a *corrupted* image back to
the clean one. The corruption here is the original tutorial's (notebook 05): add Gaussian noise
scaled by a *noise factor* ``f`` and clip back into the valid pixel range,

    x_noisy = clip(x + f * N(0, 1), 0, 1).

At ``f = 0.5`` the noise standard deviation is half the whole pixel range: a noisy digit has a
PSNR of about 9.4 dB against the clean one.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Callable

import torch

from .models.common import check_images


def _check_factor(factor: float) -> None:
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor) or factor < 0:
        raise ValueError(f"noise factor must be a finite number >= 0, got {factor!r}")


def add_noise(images: torch.Tensor, factor: float, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """``clip(images + factor * N(0, 1), 0, 1)``: a new tensor, ``images`` is left alone.

    Args:
        images: ``(N, 1, 28, 28)`` in ``[0, 1]``, on any device.
        factor: the noise factor ``f >= 0`` (standard deviation of the added noise).
        generator: draws the noise (a generator on ``images``' device) for a repeatable set
            of noisy images; default: PyTorch's global generator, which
            :func:`aenb.device.seed_everything` seeds.
    """
    check_images(images, "add_noise")
    _check_factor(factor)
    noise = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
    return (images + factor * noise).clamp_(0.0, 1.0)


def noisy_inputs(factor: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """``fit``'s ``input_transform`` for a denoising autoencoder: fresh noise for every batch.

    The target stays the clean image, so each epoch sees the digits with new noise (the
    model cannot memorise one noisy copy).
    """
    _check_factor(factor)  # fail now, not in the middle of training
    return partial(add_noise, factor=factor)
