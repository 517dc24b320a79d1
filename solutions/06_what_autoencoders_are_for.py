"""Reference solutions of the exercises of notebook 06 (what autoencoders are for). Try them yourself first."""

from __future__ import annotations

import numpy as np


def my_threshold(in_scores: np.ndarray, rate: float) -> float:
    """Exercise 6.1: the score above which a fraction ``rate`` of the in-distribution scores lies."""
    return float(np.quantile(in_scores, 1 - rate))


def my_precision_recall(in_scores: np.ndarray, out_scores: np.ndarray, threshold: float) -> tuple[float, float]:
    """Exercise 6.2: flag a score above ``threshold``; out-of-distribution images are the positives."""
    true_positives = int((out_scores > threshold).sum())
    false_positives = int((in_scores > threshold).sum())
    flagged = true_positives + false_positives
    precision = true_positives / flagged if flagged else 0.0
    recall = true_positives / len(out_scores)
    return precision, recall


def my_detector(train_scores: np.ndarray, val_scores: np.ndarray, test_scores: np.ndarray,
                outlier_scores: np.ndarray, rate: float) -> tuple[float, float, float]:
    """Exercise 6.3: the threshold set on the held-out (validation) digits, then both rates measured on the test."""
    threshold = float(np.quantile(val_scores, 1 - rate))  # not train_scores (fitted on), not test_scores (reported)
    false_positive_rate = float((test_scores > threshold).mean())
    recall = float((outlier_scores > threshold).mean())
    return threshold, false_positive_rate, recall
