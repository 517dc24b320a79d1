"""Reference solutions of the exercises of notebook 04 (a convolutional autoencoder). Try them yourself first."""

from __future__ import annotations

import torch
from torch import nn


def my_conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Exercise 4.1: the number of positions a kernel takes along one dimension of the padded input."""
    return (size + 2 * padding - kernel) // stride + 1


def my_sigmoid_mse_grad(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Exercise 4.2: d/da (sigmoid(a) - x)^2 = 2 (s - x) s (1 - s) with s = sigmoid(a)."""
    s = torch.sigmoid(a)
    return 2 * (s - x) * s * (1 - s)


def my_transposed_decoder() -> nn.Module:
    """Exercise 4.3: 64 maps of 7x7 -> one 28x28 image with two 3x3, stride-2 transposed convolutions."""
    return nn.Sequential(
        nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1),  # 7 -> 14
        nn.ReLU(),
        nn.ConvTranspose2d(32, 1, 3, stride=2, padding=1, output_padding=1),  # 14 -> 28
        nn.Sigmoid(),
    )
