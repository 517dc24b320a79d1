"""Device choice and seeding."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from aenb.device import DEVICE_ENV, device_name, get_device, seed_everything


def test_override_and_automatic_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert get_device() == torch.device("cpu")
    monkeypatch.delenv(DEVICE_ENV)
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert get_device().type == expected
    assert device_name("cpu") == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_requesting_missing_cuda_is_explained() -> None:
    with pytest.raises(RuntimeError, match="'cuda' was requested but CUDA is not available"):
        get_device("cuda")


def test_seed_everything_repeats_every_generator() -> None:
    draws = []
    for _ in range(2):
        gen = seed_everything(7)
        draws.append((random.random(), float(np.random.rand()), float(torch.rand(1)),
                      float(torch.rand(1, generator=gen))))
    assert draws[0] == draws[1]
    seed_everything(8)
    assert float(torch.rand(1)) != draws[0][2]
    with pytest.raises(TypeError, match="seed must be an int, got float"):
        seed_everything(1.5)  # type: ignore[arg-type]
