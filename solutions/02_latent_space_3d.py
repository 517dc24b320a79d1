"""Reference solutions of the exercises of notebook 02 (a 3-d latent space). Try them yourself first."""

from __future__ import annotations

from typing import Callable

import torch
from sklearn.neighbors import KNeighborsClassifier
from torch.nn import functional as F


def my_choose_k(train_images: torch.Tensor, train_labels: torch.Tensor, val_images: torch.Tensor,
                val_labels: torch.Tensor, candidates: tuple[int, ...]) -> int:
    """Exercise 2.1: the pixel reader's k, chosen by accuracy on the validation split (the smaller k on a tie).

    Each candidate reader is fit on the training split only; scoring it on those same images would
    favour k = 1, for which every training image is its own nearest neighbour.
    """
    train_x, val_x = train_images.flatten(1).numpy(), val_images.flatten(1).numpy()
    scores = {k: KNeighborsClassifier(n_neighbors=k).fit(train_x, train_labels.numpy()).score(val_x, val_labels.numpy())
              for k in candidates}
    return max(candidates, key=lambda k: (scores[k], -k))


def my_equal_budget(val_a: list[float], images_a: int, val_b: list[float], images_b: int) -> tuple[float, float]:
    """Exercise 2.2: each run's lowest validation loss within the budget both had, in training images seen."""
    budget = min(len(val_a) * images_a, len(val_b) * images_b)
    return min(val_a[:budget // images_a]), min(val_b[:budget // images_b])


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
