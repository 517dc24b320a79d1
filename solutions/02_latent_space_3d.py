"""Reference solutions of the exercises of notebook 02 (a 3-d latent space). Try them yourself first."""

from __future__ import annotations

from typing import Callable

import torch
from torch.nn import functional as F


def my_interpolate(z_a: torch.Tensor, z_b: torch.Tensor, steps: int) -> torch.Tensor:
    """Exercise 2.1: ``steps`` equally spaced points from ``z_a`` to ``z_b`` (both included), shape (steps, d)."""
    t = torch.linspace(0, 1, steps, dtype=z_a.dtype)[:, None]
    return (1 - t) * z_a + t * z_b


def my_distance_to_data(z: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Exercise 2.2: the Euclidean distance from each row of ``z`` to the nearest row of ``codes``, shape (M,)."""
    return torch.cdist(z, codes).min(dim=1).values


def my_find_code(decode: Callable[[torch.Tensor], torch.Tensor], targets: torch.Tensor, latent_dim: int,
                 steps: int = 500, lr: float = 0.05) -> torch.Tensor:
    """Exercise 2.3: codes whose decoded images are closest to ``targets``, by gradient descent on the code only.

    Starting from z = 0 (the middle of the code space), Adam moves z against the gradient of the
    reconstruction error; the decoder's weights are never handed to the optimiser.
    """
    z = torch.zeros(len(targets), latent_dim, device=targets.device, requires_grad=True)
    optimizer = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.mse_loss(decode(z), targets, reduction="sum")  # a sum: each image's code follows its own error
        loss.backward()
        optimizer.step()
    return z.detach()
