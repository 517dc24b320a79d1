"""aenb.metrics.PixelReader: the series' pixel reader names real digits, and counts only drawn ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aenb.data import Split
from aenb.metrics import PixelReader


def test_reads_real_digits_and_refuses_a_blob(mnist_train_small: Split, mnist_test_small: Split) -> None:
    reader = PixelReader(mnist_train_small.images, mnist_train_small.labels, k=5, min_votes=4)
    real = reader.read(mnist_test_small.images[:200])
    assert set(real) == {"label", "votes", "distance", "drawn"}
    assert (real["label"] == mnist_test_small.labels[:200].numpy()).mean() > 0.8
    limit = reader.calibrate(mnist_test_small.images[:200], quantile=0.99)
    assert limit == pytest.approx(np.quantile(real["distance"], 0.99))
    blob = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))  # speckle: some label wins a vote
    assert reader.names(blob) == ["–", "–", "–"]
    assert not reader.read(blob)["drawn"].any()
    names = reader.names(mnist_test_small.images[:20], classes=mnist_test_small.classes, none="?")
    assert all(n == "?" or n in mnist_test_small.classes for n in names)


def test_min_votes_must_fit_k(mnist_train_small: Split) -> None:
    with pytest.raises(ValueError, match="min_votes"):
        PixelReader(mnist_train_small.images, mnist_train_small.labels, k=5, min_votes=6)
