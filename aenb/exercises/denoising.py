"""Exercises of notebook 05 (denoising autoencoders): PSNR, the noisy inputs, a denoiser without training."""

from __future__ import annotations

import math
from typing import Any

import torch

from ..metrics import psnr
from ..noise import add_noise
from .common import NotYet, as_tensor, call, compare, exercise, images


def _noisy(n: int, factor: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    clean = images("mnist", "test", n)
    return clean, add_noise(clean, factor, generator=torch.Generator().manual_seed(seed))


@exercise("5.1", "my_psnr")
def check_psnr(answer: Any) -> str:
    """Exercise 5.1: ``my_psnr(images, targets)``, the PSNR of each image in dB, shape (N,)."""
    clean, noisy = _noisy(300, 0.3, seed=51)
    got = as_tensor(call(answer, noisy.clone(), clean.clone()), (300,), what="your PSNR", shape_hints={
        (): "one PSNR per image: average the squared error over the pixels of each image (flatten(1).mean(1)), "
            "then take the log.",
        (300, 1, 28, 28): "you computed it per pixel: average the squared error over each image's pixels first.",
    }, nan_hint="PSNR = 10 * log10(1 / MSE): the MSE must be positive, a mean of squares.")
    mse = (noisy - clean).double().pow(2).flatten(1).mean(1)
    expected = psnr(noisy.double(), clean.double())
    compare(got, expected, problem="your PSNR differs from 10 * log10(1 / MSE).", rtol=1e-4, atol=1e-4,
            hint="PSNR = 10 * log10(max_value^2 / MSE) with max_value = 1 and the MSE over each image's pixels.",
            mistakes={"decibels use log10, not the natural log (torch.log10).": 10 * torch.log(1 / mse),
                      "10 * log10 goes with the MSE; 20 * log10 with the root-mean-square error.":
                          20 * torch.log10(1 / mse),
                      "the MSE goes in the denominator: PSNR = 10 * log10(1 / MSE), higher is better.":
                          10 * torch.log10(mse),
                      "MSE is the mean over the pixels, not the sum.": 10 * torch.log10(1 / (784 * mse))})
    return (f"Your PSNR equals aenb.metrics.psnr on 300 MNIST test digits at noise factor f = 0.3: "
            f"{float(expected.mean()):.2f} dB on average; +6 dB would mean half the RMS error.")


def _background_mean(factor: float, draw: str) -> float:
    """Mean of a background (black) pixel after clip(0 + noise, 0, 1), from one million seeded draws."""
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(1_000_000, generator=g, dtype=torch.float64) if draw == "normal" else \
        torch.rand(1_000_000, generator=g, dtype=torch.float64)
    return float((factor * noise).clamp(0, 1).mean())


@exercise("5.2", "my_noisy_batch")
def check_noisy_batch(answer: Any) -> str:
    """Exercise 5.2: ``my_noisy_batch(images, factor)``, the input_transform of a denoiser: fresh clipped noise."""
    clean = images("mnist", "test", 256)
    background = clean == 0
    with torch.random.fork_rng():  # the reader's function draws from the global generator: seed it, then restore
        torch.manual_seed(0)
        x = clean.clone()
        first = as_tensor(call(answer, x, 0.5), tuple(clean.shape), what="your noisy batch")
        if not torch.equal(x, clean):
            raise NotYet("your function changed the images it was given.",
                         hint="those are the clean targets of the batch: build a new tensor (x + noise), not x += "
                              "noise or x.add_(noise).")
        second = as_tensor(call(answer, x, 0.5), tuple(clean.shape), what="your noisy batch")
        unchanged = as_tensor(call(answer, x, 0.0), tuple(clean.shape), what="your batch at factor 0")
    if float(first.min()) < 0 or float(first.max()) > 1:
        raise NotYet("your noisy pixels leave [0, 1].", expected="values in [0, 1]",
                     got=f"from {float(first.min()):.2f} to {float(first.max()):.2f}",
                     hint="clip the result back to valid pixels: (x + noise).clamp(0, 1).")
    if torch.equal(first, second):
        raise NotYet("two calls gave the same noisy batch.",
                     hint="draw fresh noise in every call (no fixed seed or generator inside the function): a model "
                          "that sees the same noisy copy every epoch can learn the noise by heart.")
    if not torch.allclose(unchanged, clean.double()):
        raise NotYet("with factor 0 the images do not come back unchanged.",
                     hint="scale the noise by the factor you are given, not by a fixed 0.5.")
    got = float(first[background].mean())
    expected = _background_mean(0.5, "normal")
    if abs(got - expected) > 0.01:
        hint = "noise = factor * torch.randn_like(images): Gaussian, with standard deviation factor."
        if abs(got - _background_mean(0.25, "normal")) <= 0.01:
            hint = "the factor is the noise's standard deviation: multiply randn by factor, not by factor**2."
        elif abs(got - _background_mean(0.5, "uniform")) <= 0.01:
            hint = "the noise is Gaussian: torch.randn_like, not torch.rand_like (uniform in [0, 1))."
        raise NotYet("your noise does not have the right strength.",
                     expected=f"a black pixel becomes {expected:.3f} on average at factor 0.5",
                     got=f"{got:.3f}", hint=hint)
    return (f"clip(x + f * N(0, 1), 0, 1) with fresh noise on every call, and the clean batch left alone: use it as "
            f"fit(..., input_transform=lambda batch: my_noisy_batch(batch, 0.5)). A black pixel becomes "
            f"{expected:.2f} on average at f = 0.5, because clipping keeps only the positive half of the noise.")


@exercise("5.3", "my_denoise_without_training")
def check_classical_denoiser(answer: Any) -> str:
    """Exercise 5.3: ``my_denoise_without_training(noisy)`` must gain 4 dB of PSNR at f = 0.5 with no learning."""
    clean, noisy = _noisy(500, 0.5, seed=1)
    got = as_tensor(call(answer, noisy.clone()), tuple(noisy.shape), what="your denoised images")
    before = float(psnr(noisy.double(), clean.double()).mean())
    mse = (got.clamp(0, 1) - clean.double()).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    after = float((10 * torch.log10(1 / mse)).mean())
    gain = after - before
    scores = f"mean PSNR {after:.2f} dB, against {before:.2f} dB for the noisy input ({gain:+.1f} dB)"
    if not math.isfinite(after) or gain < 4.0:
        hint = ("a box (mean) filter keeps the bias of clipped noise: on the black background only positive noise "
                "survives, so averaging leaves a grey haze. Try a median filter (x.unfold twice, then .median(-1)), "
                "and set dim pixels to 0.")
        if gain < 0:
            hint = "your images are further from the clean digits than the noisy input. " + hint
        raise NotYet("your filter gains less than 4 dB.", expected="at least +4.0 dB", got=scores, hint=hint)
    return (f"On 500 test digits at f = 0.5: {scores}, with no training at all. Compare with the learned "
            f"denoisers in the table above: they know what digits look like, your filter only that noise is speckled.")


__all__ = ["check_classical_denoiser", "check_noisy_batch", "check_psnr"]
