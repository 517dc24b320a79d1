"""Reference solutions of the exercises of notebook 06 (what autoencoders are for). Try them yourself first."""

from __future__ import annotations

import numpy as np
import torch


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


def my_knn_predict(train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor,
                   k: int) -> torch.Tensor:
    """Exercise 6.3: the most common label among the k training features nearest to each test feature."""
    nearest = torch.cdist(test_features, train_features).topk(k, largest=False).indices  # (N_test, k)
    return torch.mode(train_labels[nearest], dim=1).values
