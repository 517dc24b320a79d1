"""Exercises of notebook 06 (what autoencoders are for): a detection threshold, precision and recall, k-NN."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
from sklearn.metrics import precision_score, recall_score
from sklearn.neighbors import KNeighborsClassifier

from .common import NotYet, as_number, call, describe, exercise, images, labels


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


@exercise("6.3", "my_knn_predict")
def check_knn(answer: Any) -> str:
    """Exercise 6.3: ``my_knn_predict(train_features, train_labels, test_features, k)``: k-NN by majority vote."""
    train_x, test_x = _features(images("mnist", "train", 2000)).float(), _features(images("mnist", "test", 500)).float()
    train_y, test_y = labels("mnist", "train", 2000), labels("mnist", "test", 500)
    result = call(answer, train_x.clone(), train_y.clone(), test_x.clone(), 5)
    if isinstance(result, np.ndarray):
        result = torch.from_numpy(result)
    if not isinstance(result, torch.Tensor):
        raise NotYet("your predictions are not a tensor.", expected="a tensor of 500 labels", got=describe(result))
    if tuple(result.shape) != (500,):
        raise NotYet("your predictions have the wrong shape.", expected="shape (500,): one label per test image",
                     got=f"shape {tuple(result.shape)}", hint="take the majority vote over the k neighbours "
                     "(torch.mode(neighbour_labels, dim=1).values), one label per row.")
    if result.dtype.is_floating_point and not torch.equal(result, result.round()):
        raise NotYet("your predictions are not whole labels.", got=f"dtype {result.dtype}",
                     hint="predict the most common label among the neighbours, not their mean.")
    predicted = result.detach().cpu().long().numpy()
    reference = KNeighborsClassifier(n_neighbors=5).fit(train_x.numpy(), train_y.numpy()).predict(test_x.numpy())
    agree = float((predicted == reference).mean())
    accuracy = float((predicted == test_y.numpy()).mean())
    if agree < 0.99:
        one_nn = KNeighborsClassifier(n_neighbors=1).fit(train_x.numpy(), train_y.numpy()).predict(test_x.numpy())
        hint = ("find the k training features nearest to each test feature (torch.cdist, then topk(k, "
                "largest=False)) and take the most common of their labels.")
        if accuracy < 0.5:
            hint = "are you taking the nearest neighbours? topk returns the largest values unless largest=False."
        elif float((predicted == one_nn).mean()) >= 0.99:
            hint = "that is the 1-nearest-neighbour rule: vote among all k neighbours (torch.mode over dim=1)."
        raise NotYet("your predictions differ from scikit-learn's k-NN classifier.",
                     expected="the same label for at least 99% of the test images",
                     got=f"the same for {agree:.1%}; accuracy {accuracy:.1%}", hint=hint)
    return (f"Your k-NN agrees with scikit-learn's on {agree:.1%} of 500 MNIST test digits: accuracy {accuracy:.1%} "
            f"from 10 PCA numbers per image, with no training. Section 3 uses it to compare codes as features.")


__all__ = ["check_knn", "check_precision_recall", "check_threshold"]
