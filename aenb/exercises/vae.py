"""Exercises of notebook 03 (variational autoencoders): the KL term, the sampler, the loss's reductions.

Each check runs the reader's answer on real images: posteriors that a small VAE, trained for about a second,
gives real MNIST test digits (3.1, 3.2), a VAE's output on them (3.3), two VAEs trained on Fashion-MNIST (3.4).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch.distributions import Normal
from torch.distributions import kl_divergence as torch_kl_divergence
from torch.nn import functional as F

from ..models import VAE
from ..models.vae import VAELoss, kl_divergence
from .common import NotYet, as_number, as_tensor, call, compare, describe, exercise, images, value


def _train_vae(sizes: tuple[int, ...], train: torch.Tensor, loss_fn: VAELoss, *, epochs: int, lr: float) -> VAE:
    """A VAE trained briefly on ``train`` (batches of 50, Adam, seeded, on one thread), returned in eval mode."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # layers this small gain nothing from threads, and on a busy CPU they lose a lot
    try:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model = VAE(sizes)
            optimizer = torch.optim.Adam(model.parameters(), lr=lr)
            for _ in range(epochs):
                for idx in torch.randperm(len(train)).split(50):
                    optimizer.zero_grad()
                    loss_fn(model(train[idx]), train[idx])["loss"].backward()
                    optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


@functools.lru_cache(maxsize=1)
def _real_posteriors() -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, logvar) of 256 MNIST test digits from a 784-128-20 VAE trained for 3 epochs on 4,000 training digits.

    Seeded and on one thread, so every run gives the same numbers (in about a second). A briefly trained encoder
    gives what a reader's KL and sampler meet in practice: means up to about 4 from 0, and standard deviations from
    narrow (about 0.2) to as wide as the prior's.
    """
    model = _train_vae((784, 128, 20), images("mnist", "train", 4000), VAELoss("bce"), epochs=3, lr=3e-3)
    with torch.no_grad():
        return model.encode(images("mnist", "test", 256))


def _posteriors(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` of those posteriors (copies: the reader's function may modify them)."""
    mu, logvar = _real_posteriors()
    return mu[:n].clone(), logvar[:n].clone()


@exercise("3.1", "my_kl_divergence")
def check_kl_divergence(answer: Any) -> str:
    """Exercise 3.1: ``my_kl_divergence(mu, logvar)``, ``KL(N(mu, sigma^2) || N(0, I))`` per sample, shape (N,)."""
    mu, logvar = _posteriors(256)
    got = as_tensor(call(answer, mu.clone(), logvar.clone()), (256,), what="your KL", shape_hints={
        (256, 20): "sum over the latent dimensions (dim=-1): one KL per sample.",
        (): "one KL per sample: sum over dim=-1 only, without averaging over the batch.",
        (20,): "you reduced over the samples (dim 0); sum over the latent dimensions (dim=-1) instead.",
    }, nan_hint="exp of a large logvar, or log of a negative variance? The closed form needs only exp(logvar).")
    m, lv = mu.double(), logvar.double()
    expected = torch_kl_divergence(Normal(m, (0.5 * lv).exp()), Normal(torch.zeros_like(m), torch.ones_like(m)))
    expected = expected.sum(-1)
    compare(got, expected, problem="your KL differs from torch.distributions.kl_divergence.", rtol=1e-4, atol=1e-4,
            hint="KL = -1/2 * sum over the latent dimensions of (1 + logvar - mu^2 - exp(logvar)).",
            mistakes={
                "a KL divergence is never negative: check the sign (the formula starts with -1/2).": -expected,
                "missing exp: the variance is sigma^2 = exp(logvar), so the last term is logvar.exp(), not logvar.":
                    -0.5 * (1 + lv - m.pow(2) - lv).sum(-1),
                "exp(logvar / 2) is sigma; the formula needs the variance sigma^2 = exp(logvar).":
                    -0.5 * (1 + lv - m.pow(2) - (0.5 * lv).exp()).sum(-1),
                "sum over the latent dimensions (they are independent), do not average them.": expected / 20,
                "the factor 1/2 is missing.": 2 * expected,
            })
    per_dim = torch_kl_divergence(Normal(m, (0.5 * lv).exp()), Normal(torch.zeros_like(m), torch.ones_like(m)))
    in_use = int((per_dim.mean(0) > 0.01).sum())
    return (f"Your KL equals torch.distributions.kl_divergence(Normal(mu, sigma), Normal(0, 1)).sum(-1) on the "
            f"posteriors of 256 MNIST test digits from a briefly trained 784-128-20 VAE: from "
            f"{float(expected.min()):.1f} to {float(expected.max()):.1f} nats per digit, {in_use} of its 20 "
            f"dimensions in use (mean KL above 0.01 nats).")


@exercise("3.2", "my_reparameterize")
def check_reparameterize(answer: Any) -> str:
    """Exercise 3.2: ``my_reparameterize(mu, logvar, eps)`` returns ``z`` so that gradients reach mu and logvar."""
    mu0, logvar0 = _posteriors(64)
    eps = torch.randn(64, 20, generator=torch.Generator().manual_seed(33))
    mu, logvar = mu0.clone().requires_grad_(True), logvar0.clone().requires_grad_(True)
    raw = call(answer, mu, logvar, eps.clone())
    got = as_tensor(raw, (64, 20), what="your z")
    m, lv, e = mu0.double(), logvar0.double(), eps.double()
    sigma = (0.5 * lv).exp()
    compare(got, m + sigma * e, problem="your z is not mu + sigma * eps.", rtol=1e-4, atol=1e-5,
            hint="use the eps you are given (do not draw your own noise) and z = mu + exp(logvar / 2) * eps.",
            mistakes={"exp(logvar) is the variance sigma^2; the standard deviation is sigma = exp(logvar / 2).":
                          m + lv.exp() * e,
                      "missing exp: logvar is log(sigma^2); sigma = exp(logvar / 2).": m + lv * e,
                      "missing exp: sigma = exp(logvar / 2), not logvar / 2.": m + 0.5 * lv * e})
    if not (isinstance(raw, torch.Tensor) and raw.requires_grad):
        raise NotYet("your z has the right values but no gradient flows from it.",
                     hint="compute z with torch operations on mu and logvar: no torch.normal, .sample(), .detach(), "
                          ".item(), NumPy or torch.no_grad() on the way.")
    raw.sum().backward()
    for name, tensor, expected in (("mu", mu, torch.ones_like(m)), ("logvar", logvar, 0.5 * sigma * e)):
        if tensor.grad is None or not torch.allclose(tensor.grad.double(), expected, rtol=1e-4, atol=1e-5):
            raise NotYet(f"the gradient does not reach {name} as it should.",
                         expected=f"dz/d{name} = {'1' if name == 'mu' else 'sigma * eps / 2'}",
                         got="no gradient" if tensor.grad is None else "a different gradient",
                         hint="build z from mu and logvar themselves (not from copies or detached tensors).")
    return (f"On the posteriors of 64 MNIST test digits from a briefly trained VAE (sigma from "
            f"{float(sigma.min()):.2f} to {float(sigma.max()):.2f}), z = mu + sigma * eps with sigma = "
            "exp(logvar / 2), and the gradients reach both heads: dz/dmu = 1 and dz/dlogvar = sigma * eps / 2. "
            "The randomness sits in eps, which needs no gradient.")


@exercise("3.3", "my_vae_loss")
def check_vae_loss(answer: Any) -> str:
    """Exercise 3.3: ``my_vae_loss(x_hat, x, mu, logvar)``, the negative ELBO with BCE, in nats per image."""
    x = images("mnist", "test", 128)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = VAE((784, 64, 8)).eval()  # eval: z = mu, so the outputs are deterministic
    x_hat, mu, logvar = model(x)
    raw = call(answer, x_hat, x.clone(), mu, logvar)
    loss = as_number(raw, what="your loss")
    if not isinstance(raw, torch.Tensor):
        raise NotYet(f"your loss is {describe(raw)}, not a tensor.",
                     hint="return the tensor itself (no .item() or float()): fit calls loss.backward() on it.")
    if not raw.requires_grad:
        raise NotYet("your loss is not connected to the model: no gradient can flow from it.",
                     hint="compute it with torch operations on x_hat, mu and logvar: no .detach(), .item() or NumPy.")
    n, d = len(x), mu.shape[1]
    with torch.no_grad():
        bce = F.binary_cross_entropy(x_hat, x, reduction="none").flatten(1).double()
        kl = kl_divergence(mu, logvar).double()
        expected = VAELoss("bce")((x_hat, mu, logvar), x)
        recon_sum, kl_mean = bce.sum(1).mean(), kl.mean()
    mistakes = {
        "you averaged the reconstruction term over the pixels (F.binary_cross_entropy's default, reduction='mean'): "
        "sum it over the 784 pixels of each image. Averaging weighs the KL term 784 times too heavily (section 4).":
            bce.mean() + kl_mean,
        "you summed over the batch as well: average both terms over the images, so the loss is in nats per image.":
            bce.sum() + kl.sum(),
        "the KL term is added, not subtracted: loss = reconstruction + KL.": recon_sum - kl_mean,
        "sum the KL term over the latent dimensions (kl_divergence does), do not average them.":
            recon_sum + kl_mean / d,
        "that is the ELBO itself; fit minimises, so return the negative ELBO, reconstruction + KL.":
            -(recon_sum + kl_mean),
    }
    target = float(expected["loss"])
    if abs(loss - target) > 1e-4 * abs(target):
        hint = next((h for h, wrong in mistakes.items() if abs(loss - float(wrong)) <= 1e-4 * abs(float(wrong))),
                    "BCE summed over the pixels of each image, plus the KL summed over the latent dimensions, both "
                    "averaged over the batch.")
        raise NotYet(f"your loss differs from the negative ELBO of these {n} images.", expected=f"{target:.2f} nats",
                     got=f"{loss:.2f}", hint=hint)
    return (f"Your loss equals VAELoss('bce') on {n} MNIST test digits through a fresh VAE: {target:.1f} nats per "
            f"image (BCE {float(expected['recon']):.1f} + KL {float(expected['kl']):.2f}).")


def _train_briefly(beta: float) -> float:
    """A 784-64-2 VAE, 2 epochs on 2,000 Fashion-MNIST images (seeded): its test KL in nats per image."""
    model = _train_vae((784, 64, 2), images("fashion-mnist", "train", 2000), VAELoss("half_sse", beta=beta), epochs=2,
                       lr=1e-3)
    with torch.no_grad():
        return float(kl_divergence(*model.encode(images("fashion-mnist", "test", 500))).mean())


@exercise("3.4", "predicted_kl")
def check_beta_kl_prediction(answer: Any) -> str:
    """Exercise 3.4: the reader predicts the KL term (nats per image) of ``VAELoss("half_sse", beta=784)``.

    The check then measures it: two small VAEs, beta 1 and 784, trained briefly (about a second each).
    """
    predicted = as_number(value(answer), what="your prediction")
    if predicted < 0:
        raise NotYet(f"your prediction {predicted:g} is negative.",
                     hint="a KL divergence is never negative; it is 0 exactly when the posterior is the prior.")
    kl_1, kl_784 = _train_briefly(1.0), _train_briefly(784.0)
    measured = (f"measured after 2 epochs on 2,000 Fashion-MNIST images (784-64-2): KL {kl_1:.1f} nats per image "
                f"with beta = 1, {kl_784:.2f} with beta = 784")
    if abs(predicted - kl_784) > 0.5:
        hint = ("with beta = 784, one nat of KL costs as much as 784 nats of reconstruction error. Compare with the "
                "pixel-mean row of the table in section 4: dividing the reconstruction term by 784 is the same "
                "balance.")
        if abs(predicted - kl_1) <= 0.4 * kl_1:
            hint = "that is about the KL of beta = 1. " + hint
        raise NotYet(f"your prediction {predicted:g} nats is far from the measurement.", got=measured, hint=hint)
    return (f"{measured[0].upper()}{measured[1:]}. The posterior collapses onto the prior and the decoder ignores z: "
            f"beta = 784 with the pixel sum is the pixel-mean loss of section 4, scaled by 784, which Adam ignores.")


__all__ = ["check_beta_kl_prediction", "check_kl_divergence", "check_reparameterize", "check_vae_loss"]
