"""Reference solutions of the exercises of notebook 03 (variational autoencoders). Try them yourself first."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def my_kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Exercise 3.1: KL(N(mu, exp(logvar)) || N(0, I)) per sample, summed over the latent dimensions."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)


def my_reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Exercise 3.2: z = mu + sigma * eps with sigma = exp(logvar / 2); gradients flow into mu and logvar."""
    return mu + torch.exp(0.5 * logvar) * eps


def my_vae_loss(x_hat: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Exercise 3.3: BCE summed over pixels plus KL summed over latent dimensions, both averaged over the batch."""
    n = len(x)
    recon = F.binary_cross_entropy(x_hat, x, reduction="sum") / n
    kl = my_kl_divergence(mu, logvar).mean()
    return recon + kl


# Exercise 3.4: with beta = 784 each nat of KL costs as much as 784 nats of reconstruction, the balance of the
# pixel-mean loss of section 4. The posterior collapses onto the prior: the KL term goes to about 0.
predicted_kl = 0.0
