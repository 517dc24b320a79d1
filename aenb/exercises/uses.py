"""Exercises of notebook 06 (what autoencoders are for): a detection threshold, precision and recall, a threshold
chosen on a validation split."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
from sklearn.metrics import precision_score, recall_score

from .common import NotYet, as_number, call, describe, exercise, images


@functools.lru_cache(maxsize=1)
def _pca() -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and first 10 principal components of 2,000 MNIST training digits (exact SVD, float64)."""
    train = images("mnist", "train", 2000).reshape(2000, -1).double()
    mean = train.mean(0)
    return mean, torch.linalg.svd(train - mean, full_matrices=False).Vh[:10]


def _features(x: torch.Tensor) -> torch.Tensor:
    mean, v = _pca()
    return (x.reshape(len(x), -1).double() - mean) @ v.T


@functools.lru_cache(maxsize=1)
def _scores() -> tuple[np.ndarray, np.ndarray]:
    """Reconstruction errors of a 10-component PCA (a linear autoencoder trained on MNIST): MNIST and Fashion tests."""
    _, v = _pca()

    def errors(x: torch.Tensor) -> np.ndarray:
        flat = x.reshape(len(x), -1).double()
        recon = _features(x) @ v + _pca()[0]
        return (recon - flat).pow(2).mean(1).numpy()

    return errors(images("mnist", "test", 1000)), errors(images("fashion-mnist", "test", 1000))


@exercise("6.1", "my_threshold")
def check_threshold(answer: Any) -> str:
    """Exercise 6.1: ``my_threshold(in_scores, rate)``: the error above which a fraction ``rate`` of in-data lies."""
    in_scores, out_scores = _scores()
    for rate in (0.05, 0.01):
        t = as_number(call(answer, in_scores.copy(), rate), what=f"your threshold for rate={rate}")
        flagged = float((in_scores > t).mean())
        if abs(flagged - rate) > 0.002:
            hint = ("the threshold is the (1 - rate) quantile of the in-distribution scores: "
                    "np.quantile(in_scores, 1 - rate).")
            if abs(flagged - (1 - rate)) <= 0.002:
                hint = ("you took the rate quantile: that leaves a fraction rate *below* the threshold. Use the "
                        "(1 - rate) quantile, so that a fraction rate lies above it.")
            raise NotYet(f"with rate={rate} your threshold flags the wrong share of MNIST test digits.",
                         expected=f"{rate:.1%} of the in-distribution scores above the threshold",
                         got=f"{flagged:.1%} above {t:.4g}", hint=hint)
    t = as_number(call(answer, in_scores.copy(), 0.05))
    caught = float((out_scores > t).mean())
    return (f"At rate 0.05 your threshold {t:.4f} flags 5.0% of 1,000 MNIST test digits and {caught:.1%} of 1,000 "
            f"Fashion-MNIST images (the score: the reconstruction error of a 10-component PCA trained on MNIST).")


@exercise("6.2", "my_precision_recall")
def check_precision_recall(answer: Any) -> str:
    """Exercise 6.2: ``my_precision_recall(in_scores, out_scores, threshold)`` with out-of-distribution as positive."""
    in_scores, out_scores = _scores()
    threshold = float(np.quantile(in_scores, 0.95))
    result = call(answer, in_scores.copy(), out_scores.copy(), threshold)
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise NotYet(f"your function returned {describe(result)}.", expected="a pair (precision, recall)",
                     hint="return precision, recall")
    precision, recall = (as_number(v, what=name) for v, name in zip(result, ("your precision", "your recall")))
    truth = np.r_[np.zeros(len(in_scores)), np.ones(len(out_scores))]
    scores = np.r_[in_scores, out_scores]

    def pr(flags: np.ndarray) -> tuple[float, float]:
        return (float(precision_score(truth, flags, zero_division=0.0)),
                float(recall_score(truth, flags, zero_division=0.0)))

    expected = pr(scores > threshold)
    if max(abs(precision - expected[0]), abs(recall - expected[1])) > 1e-6:
        hint = ("flag an image when its score is above the threshold; precision = flagged outsiders / all flagged, "
                "recall = flagged outsiders / all outsiders.")
        wrong = {"you swapped them: precision comes first, then recall.": expected[::-1],
                 "flag the images whose error is above the threshold: the autoencoder reconstructs outsiders badly, "
                 "so they score high.": pr(scores <= threshold)}
        for mistake, (p, r) in wrong.items():
            if max(abs(precision - p), abs(recall - r)) <= 1e-6:
                hint = mistake
        raise NotYet("your precision and recall differ from scikit-learn's.",
                     expected=f"precision {expected[0]:.4f}, recall {expected[1]:.4f}",
                     got=f"precision {precision:.4f}, recall {recall:.4f}", hint=hint)
    return (f"Precision {expected[0]:.3f} and recall {expected[1]:.3f} at the threshold that flags 5% of MNIST: "
            f"{expected[0]:.0%} of the flagged images are Fashion-MNIST, and {expected[1]:.0%} of the Fashion-MNIST "
            f"images are flagged. Now try it on this notebook's errors[('MNIST', 'MNIST')] and "
            f"errors[('MNIST', 'Fashion')].")


@functools.lru_cache(maxsize=1)
def _held_out_scores() -> dict[str, np.ndarray]:
    """Reconstruction errors of a 30-component PCA fitted on 1,000 MNIST training digits (a linear autoencoder
    that knows its training images too well): those digits, the next 1,000 (validation), 1,000 test digits and
    1,000 Fashion-MNIST test images."""
    digits = images("mnist", "train", 2000).reshape(2000, -1).double()
    fitted = digits[:1000]
    mean = fitted.mean(0)
    v = torch.linalg.svd(fitted - mean, full_matrices=False).Vh[:30]

    def errors(x: torch.Tensor) -> np.ndarray:
        flat = x.reshape(len(x), -1).double()
        return ((flat - mean) @ v.T @ v + mean - flat).pow(2).mean(1).numpy()

    return {"train": errors(fitted), "val": errors(digits[1000:]), "test": errors(images("mnist", "test", 1000)),
            "out": errors(images("fashion-mnist", "test", 1000))}


@exercise("6.3", "my_detector")
def check_detector(answer: Any) -> str:
    """Exercise 6.3: ``my_detector(train_scores, val_scores, test_scores, outlier_scores, rate)`` sets the
    threshold on the validation scores and returns ``(threshold, false_positive_rate, recall)`` on the test."""
    s = _held_out_scores()
    for rate in (0.05, 0.01):
        result = call(answer, s["train"].copy(), s["val"].copy(), s["test"].copy(), s["out"].copy(), rate)
        if not (isinstance(result, (tuple, list)) and len(result) == 3):
            raise NotYet(f"your function returned {describe(result)}.",
                         expected="a triple (threshold, false_positive_rate, recall)",
                         hint="return threshold, false_positive_rate, recall")
        t, fpr, recall = (as_number(v, what=f"your {name} at rate={rate}")
                          for v, name in zip(result, ("threshold", "false positive rate", "recall")))
        flagged = {name: float((s[name] > t).mean()) for name in ("train", "val", "test")}
        if abs(flagged["val"] - rate) > 0.002:
            hint = ("set the threshold so that a fraction rate of the held-out digits (the validation scores) lies "
                    "above it.")
            if abs(flagged["train"] - rate) <= 0.002:
                hint = ("you set the threshold on the images the model was fitted on: it reconstructs them better "
                        "than digits it has never seen, so the threshold comes out too low and flags too many new "
                        "digits. Use the held-out digits.")
            elif abs(flagged["test"] - rate) <= 0.002:
                hint = ("you set the threshold on the test scores you then report: the test false positive rate "
                        "equals the target by construction, it is not measured. Choose it on the validation "
                        "scores.")
            raise NotYet(f"with rate={rate} your threshold is not set on the validation split.",
                         expected=f"{rate:.1%} of the validation scores above the threshold",
                         got=f"{flagged['val']:.1%} above {t:.4g}", hint=hint)
        expected = (flagged["test"], float((s["out"] > t).mean()))
        if max(abs(fpr - expected[0]), abs(recall - expected[1])) > 1e-6:
            raise NotYet(f"with rate={rate} your threshold is right, but not the two rates measured with it.",
                         expected=f"false positive rate {expected[0]:.4f}, recall {expected[1]:.4f}",
                         got=f"false positive rate {fpr:.4f}, recall {recall:.4f}",
                         hint="measure both on the test set: the share of test digits above the threshold, and "
                              "the share of outliers above it.")
    t = float(np.quantile(s["val"], 0.95))
    train_t = float(np.quantile(s["train"], 0.95))
    return (f"At rate 0.05 the threshold chosen on 1,000 held-out digits flags {(s['test'] > t).mean():.1%} of 1,000 "
            f"test digits (the target was 5%) and {(s['out'] > t).mean():.1%} of 1,000 Fashion-MNIST images. "
            f"Set on the 1,000 digits the model was fitted on, it would have flagged "
            f"{(s['test'] > train_t).mean():.1%} of the test digits.")


__all__ = ["check_detector", "check_precision_recall", "check_threshold"]
