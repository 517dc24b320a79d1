"""Variational autoencoders (notebook 03): the model, the KL formula, the losses.

A VAE (Kingma & Welling, 2014, *Auto-Encoding Variational Bayes*; Rezende, Mohamed &
Wierstra, 2014) is "an encoder that outputs a mean and a log-variance, a sampler, a
decoder, and one formula: the KL divergence". Each piece is one name here:

* :class:`VAE` -- ``encode(x) -> (mu, logvar)``, ``decode(z) -> x_hat``, ``forward``;
* :func:`reparameterize` -- the sampler ``z = mu + sigma * eps``;
* :func:`kl_divergence` -- ``KL(N(mu, sigma^2) || N(0, I))`` in closed form;
* :class:`VAELoss` -- reconstruction term + KL term, as a dict ``{"loss", "recon", "kl"}``
  that :func:`aenb.training.fit` minimises and logs term by term;
* its test loss (-ELBO, one sample of ``z``), as the PyTorch example reports it, is
  :func:`aenb.metrics.evaluate_elbo`: it runs a trained model, so it sits above this module.

Reductions, exactly (every loss here follows them):

* the reconstruction term is **summed over the 784 pixels** of an image (the
  log-likelihood of an image is the sum of its pixels' log-likelihoods);
* the KL term is **summed over the latent dimensions** (the posterior's dimensions are
  independent);
* both are then **averaged over the images of the batch**.

So ``"loss"`` is the negative ELBO **in nats per image** (for a likelihood with a
density, up to the constant noted in :class:`VAELoss`). ``VAELoss(pixel_reduction="mean")``
averages over pixels instead: it exists to demonstrate why that is a mistake.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .common import IMAGE_SHAPE, binary_cross_entropy, check_codes, check_images
from .mlp import _ACTIVATIONS, _mlp

N_PIXELS = 784

#: Reconstruction terms :class:`VAELoss` knows (see its docstring).
RECON_TERMS = ("bce", "half_sse", "gaussian_optimal_sigma")


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag(exp(logvar))) || N(0, I))`` per sample, shape ``(N,)``, in nats.

    The closed form, summed over the latent dimensions (the last axis)::

        -1/2 * sum(1 + logvar - mu^2 - exp(logvar))

    Args:
        mu: posterior means, shape ``(N, latent_dim)`` (or just ``(latent_dim,)``).
        logvar: posterior log-variances ``log sigma^2``, same shape.
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)


def reparameterize(
    mu: torch.Tensor, logvar: torch.Tensor, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A sample ``z = mu + sigma * eps`` with ``eps ~ N(0, I)`` and ``sigma = exp(logvar / 2)``.

    The randomness is in ``eps``, which does not depend on the parameters, so gradients
    flow from ``z`` into both ``mu`` and ``logvar``. ``generator`` (on ``mu``'s device)
    makes the draw repeatable.
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


class VAE(nn.Module):
    """A fully-connected VAE with a mirrored decoder.

    ``sizes=(784, 400, 20)`` is the classic PyTorch example (ReLU, Sigmoid output);
    ``sizes=(784, 256, 2)`` the original's (notebook 03) Fashion-MNIST model. The encoder's hidden
    layers end in two linear heads, ``mu`` and ``logvar``; the decoder mirrors the hidden
    layers and ends in a Sigmoid, so ``decode(z)`` is an image in ``[0, 1]`` (the Bernoulli
    means for a BCE loss, the Gaussian means for an MSE loss).

    ``forward(x)`` returns ``(x_hat, mu, logvar)``, reconstruction first, so
    :func:`aenb.models.reconstruction_of`, :func:`aenb.inference.predict` and
    :func:`aenb.metrics.per_image_mse` work unchanged. In training mode ``x_hat`` is
    decoded from a sample ``z = mu + sigma * eps``; in eval mode from ``z = mu``, so the
    reconstruction metrics of a trained model are "from the posterior mean" and
    deterministic. (:func:`aenb.metrics.evaluate_elbo` samples explicitly.)

    Args:
        sizes: layer widths from the input (784) through the hidden layers to the latent
            size, e.g. ``(784, 400, 20)``.
        activation: hidden-layer non-linearity, ``"relu"`` or ``"tanh"``.
    """

    def __init__(self, sizes: tuple[int, ...] | list[int] = (784, 400, 20), activation: str = "relu") -> None:
        super().__init__()
        sizes = [int(s) for s in sizes]
        if len(sizes) < 3 or sizes[0] != N_PIXELS or min(sizes) < 1:
            raise ValueError(
                f"sizes must start at 784, have at least one hidden layer and end at the latent size, got {sizes}"
            )
        if activation not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}: expected one of {sorted(_ACTIVATIONS)}")
        self.config = {"sizes": sizes, "activation": activation}
        self.latent_dim = sizes[-1]
        self.encoder = _mlp(sizes[:-1], activation, activation)  # 784 -> ... -> last hidden layer
        self.mu = nn.Linear(sizes[-2], sizes[-1])
        self.logvar = nn.Linear(sizes[-2], sizes[-1])
        self.decoder = _mlp(sizes[::-1], activation, "sigmoid")

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``(N, 1, 28, 28)`` (or flat ``(N, 784)``) to ``(mu, logvar)``, each ``(N, latent_dim)``."""
        check_images(x, f"{type(self).__name__}.encode", allow_flat=True)
        h = self.encoder(x.reshape(len(x), N_PIXELS))
        return self.mu(h), self.logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes ``(N, latent_dim)`` to images ``(N, 1, 28, 28)`` in ``[0, 1]``."""
        check_codes(z, self.latent_dim, f"{type(self).__name__}.decode")
        return self.decoder(z).reshape(len(z), *IMAGE_SHAPE)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar) if self.training else mu
        return self.decode(z), mu, logvar


def _unpack(output: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if not (isinstance(output, (tuple, list)) and len(output) == 3):
        got = type(output).__name__ + (f" of length {len(output)}" if isinstance(output, (tuple, list)) else "")
        raise TypeError(f"a VAE loss expects the model output (x_hat, mu, logvar), got {got}")
    return output[0], output[1], output[2]


def reconstruction_term(x_hat: torch.Tensor, target: torch.Tensor, recon: str = "bce") -> torch.Tensor:
    """The reconstruction term of each image, **summed over its pixels**: shape ``(N,)``.

    * ``"bce"``: ``-log p(x | z)`` under independent Bernoulli pixels with means ``x_hat``
      (binary cross-entropy), in nats. On grey pixels this is a cross-entropy, not a
      log-likelihood: it is not zero even for a perfect reconstruction.
    * ``"half_sse"``: ``1/2 * ||x - x_hat||^2`` = ``-log p(x | z)`` under a Gaussian with
      unit variance, minus the constant ``784/2 * log(2 pi)`` = 720.4 nats.
    * ``"gaussian_optimal_sigma"``: the Gaussian negative log-likelihood with a shared
      variance set to its maximum-likelihood value, the batch's mean squared error
      (``sigma*^2 = MSE``; Rybkin et al., 2021): ``784/2 * (log(2 pi sigma*^2) + 1)``
      per image, in nats. The image-dependent part is ``784/2 * log(MSE)``.
    """
    if x_hat.shape != target.shape:
        target = target.reshape(x_hat.shape)
    n = len(x_hat)
    if recon == "bce":
        return binary_cross_entropy(x_hat, target, reduction="none").reshape(n, -1).sum(1)
    if recon == "half_sse":
        return 0.5 * (x_hat - target).pow(2).reshape(n, -1).sum(1)
    if recon == "gaussian_optimal_sigma":
        sq = (x_hat - target).pow(2).reshape(n, -1)
        var = sq.mean().clamp_min(1e-6)  # one variance for the batch; the gradient flows through it
        d = sq.shape[1]
        return 0.5 * sq.sum(1) / var + 0.5 * d * torch.log(2 * math.pi * var)
    raise ValueError(f"unknown reconstruction term {recon!r}: expected one of {RECON_TERMS}")


class VAELoss:
    """The negative ELBO as a ``fit`` loss: ``{"loss": recon + beta * kl, "recon", "kl"}``.

    Reductions: ``recon`` is summed over the pixels of each image (``pixel_reduction="sum"``,
    the right one) and ``kl`` over the latent dimensions; both are then averaged over the
    batch. With ``beta=1`` and ``recon="bce"`` this is the PyTorch example's loss divided
    by the batch size; ``recon="half_sse"`` is the original's (notebook 03) ``0.5 * MSE(sum) + KL``.

    ``pixel_reduction="mean"`` divides the reconstruction term by 784 while the KL term
    stays a sum: the common mistake of using ``F.mse_loss``/``F.binary_cross_entropy``
    with their default ``reduction="mean"``. It weighs the KL term 784 times too heavily
    and pushes the posterior onto the prior (the decoder learns to ignore ``z``).

    Args:
        recon: ``"bce"``, ``"half_sse"`` or ``"gaussian_optimal_sigma"`` (see
            :func:`reconstruction_term`).
        beta: weight of the KL term (``beta > 1``: a beta-VAE, Higgins et al., 2017).
        pixel_reduction: ``"sum"`` or ``"mean"`` over the pixels of an image.
    """

    def __init__(self, recon: str = "bce", *, beta: float = 1.0, pixel_reduction: str = "sum") -> None:
        if recon not in RECON_TERMS:
            raise ValueError(f"unknown reconstruction term {recon!r}: expected one of {RECON_TERMS}")
        if pixel_reduction not in ("sum", "mean"):
            raise ValueError(f"pixel_reduction must be 'sum' or 'mean', got {pixel_reduction!r}")
        if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta >= 0):
            raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
        self.recon, self.beta, self.pixel_reduction = recon, float(beta), pixel_reduction

    def __call__(self, output: Any, target: torch.Tensor) -> dict[str, torch.Tensor]:
        x_hat, mu, logvar = _unpack(output)
        recon = reconstruction_term(x_hat, target, self.recon)
        if self.pixel_reduction == "mean":
            recon = recon / x_hat[0].numel()
        recon = recon.mean()
        kl = kl_divergence(mu, logvar).mean()
        return {"loss": recon + self.beta * kl, "recon": recon, "kl": kl}

    def __repr__(self) -> str:
        return f"VAELoss(recon={self.recon!r}, beta={self.beta:g}, pixel_reduction={self.pixel_reduction!r})"
