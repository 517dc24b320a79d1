"""Exercises of notebook 05 (denoising autoencoders): choosing on validation, the noisy inputs, a denoiser without
training."""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from ..metrics import psnr
from ..noise import add_noise
from .common import NotYet, as_number, as_tensor, call, describe, exercise, images


def _noisy(n: int, factor: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    clean = images("mnist", "test", n)
    return clean, add_noise(clean, factor, generator=torch.Generator().manual_seed(seed))


#: Exercise 5.1's settings: how many principal components the PCA denoiser keeps (none is a valid index 0-6).
PCA_SETTINGS = (5, 10, 20, 40, 80, 160, 320)


def _pca_denoiser(clean_train: torch.Tensor) -> Callable[[torch.Tensor, int], torch.Tensor]:
    """``denoise(noisy, k)``: project onto the top ``k`` principal components of ``clean_train``, clip to [0, 1]."""
    x = clean_train.flatten(1).double()
    mean = x.mean(0)
    _, vectors = torch.linalg.eigh((x - mean).T @ (x - mean))
    components = vectors.flip(1).T  # rows, largest variance first

    def denoise(noisy: torch.Tensor, k: int) -> torch.Tensor:
        if k not in PCA_SETTINGS:
            raise ValueError(f"denoise(noisy, k) takes k from the settings {PCA_SETTINGS}, got {k!r}")
        basis = components[:k]
        codes = (torch.as_tensor(noisy).flatten(1).double() - mean) @ basis.T
        return (codes @ basis + mean).clamp(0, 1).float().reshape(noisy.shape)

    return denoise


def _mean_psnr(images: torch.Tensor, targets: torch.Tensor) -> float:
    return float(psnr(images.double(), targets.double()).mean())


@exercise("5.1", "my_choose_on_validation")
def check_choose_on_validation(answer: Any) -> str:
    """Exercise 5.1: ``my_choose_on_validation(denoise, settings, val_noisy, val_clean)`` -> (setting, its mean
    validation PSNR); the check fits a PCA denoiser, runs the choice on a validation split, then scores it on test."""
    train = images("mnist", "train", 6000)
    clean_train, val_clean = train[:5000], train[5000:]
    val_noisy = add_noise(val_clean, 0.5, generator=torch.Generator().manual_seed(55))
    test_clean, test_noisy = _noisy(1000, 0.5, seed=56)
    denoise = _pca_denoiser(clean_train)
    calls: list[torch.Tensor] = []

    def watched(noisy: Any, k: int) -> torch.Tensor:
        calls.append(torch.as_tensor(noisy).detach().float().reshape(-1, 784).cpu())
        return denoise(noisy, k)

    result = call(answer, watched, list(PCA_SETTINGS), val_noisy.clone(), val_clean.clone())
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise NotYet("your function must return two things: the chosen setting and its validation score.",
                     expected="a pair (setting, mean validation PSNR in dB)", got=describe(result))
    # Two different noisy digits lie several units apart; 0.05 only absorbs the rounding of cdist's fast path.
    off_split = sum(int((torch.cdist(x, val_noisy.reshape(-1, 784)).min(1).values > 0.05).sum()) for x in calls)
    if off_split:
        raise NotYet(f"your function denoised {off_split:,} images that are not the noisy validation images it was "
                     f"given.", hint="choose with the validation split alone: run denoise on val_noisy and compare "
                                     "with val_clean. The test set scores the chosen setting once, after the choice "
                                     "(the check does that).")
    setting, score = result
    setting = as_number(setting, what="your chosen setting")
    val_scores = {k: _mean_psnr(denoise(val_noisy, k), val_clean) for k in PCA_SETTINGS}
    best = max(val_scores, key=val_scores.get)
    if setting not in val_scores:
        hint = "return one of the settings you were given, not a score."
        if float(setting).is_integer() and 0 <= setting < len(PCA_SETTINGS):
            hint = "that looks like a position in the list: return the setting itself (settings[i])."
        raise NotYet(f"{setting:g} is not one of the settings {PCA_SETTINGS}.", hint=hint)
    setting = int(setting)
    if setting != best:
        hint = "score every setting the same way, on the whole validation split, and keep the best one."
        if setting == min(val_scores, key=val_scores.get):
            hint = "you kept the worst setting: PSNR is higher when the error is smaller, so keep the highest."
        raise NotYet(f"the setting k = {setting} does not have the best validation score.",
                     expected="the setting with the highest mean validation PSNR",
                     got=f"k = {setting}, whose mean validation PSNR is {val_scores[setting]:.2f} dB", hint=hint)
    score = as_number(score, what="your validation score")
    if abs(score - val_scores[best]) > 0.01:
        mse = (denoise(val_noisy, best).double() - val_clean.double()).pow(2).flatten(1).mean(1)
        hint = "report the mean over the validation images of each image's PSNR (aenb.metrics.psnr(...).mean())."
        if abs(score - float(10 * torch.log10(1 / mse.mean()))) <= 0.01:
            hint = "that is the PSNR of the mean MSE; this series reports the mean of the images' PSNRs."
        raise NotYet("your validation score is not the mean PSNR of the chosen setting.",
                     expected="a mean PSNR in dB", got=f"{score:.4g}", hint=hint)
    test_scores = {k: _mean_psnr(denoise(test_noisy, k), test_clean) for k in PCA_SETTINGS}
    hindsight = max(test_scores, key=test_scores.get)
    return (f"k = {best} components, {val_scores[best]:.2f} dB on 1,000 validation digits (noisy: "
            f"{_mean_psnr(val_noisy, val_clean):.2f} dB). Scored once on 1,000 test digits: "
            f"{test_scores[best]:.2f} dB; "
            f"the best setting in hindsight (k = {hindsight}) would give {test_scores[hindsight]:.2f} dB, so choosing "
            f"on validation cost {test_scores[hindsight] - test_scores[best]:.2f} dB and kept the test score honest. "
            f"Compare with the trained denoisers in the test table above.")


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


__all__ = ["check_choose_on_validation", "check_classical_denoiser", "check_noisy_batch"]
