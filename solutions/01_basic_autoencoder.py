"""Reference solutions of the exercises of notebook 01 (a basic autoencoder). Try them yourself first."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def my_per_image_mse(images: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """Exercise 1.1: the mean squared error over the pixels of each image, shape (N,)."""
    return (recon - images).pow(2).flatten(1).mean(1)


def my_train_step(model: nn.Module, images: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    """Exercise 1.2: one optimisation step on one batch; returns the batch's loss before the step."""
    optimizer.zero_grad()
    loss = F.mse_loss(model(images), images)
    loss.backward()
    optimizer.step()
    return loss.item()


def my_pca_reconstruct(train_images: torch.Tensor, images: torch.Tensor, k: int) -> torch.Tensor:
    """Exercise 1.3: project ``images`` onto the first ``k`` principal components of ``train_images`` and back."""
    train = train_images.reshape(len(train_images), -1)
    mean = train.mean(0)
    components = torch.linalg.svd(train - mean, full_matrices=False).Vh[:k]  # (k, 784), orthonormal rows
    x = images.reshape(len(images), -1) - mean
    return (x @ components.T @ components + mean).reshape(images.shape)
