"""Device choice and seeding."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from aenb.device import DEVICE_ENV, as_device, available_devices, device_name, get_device, seed_everything


def test_override_and_automatic_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert get_device() == torch.device("cpu")
    monkeypatch.delenv(DEVICE_ENV)
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert get_device().type == expected
    assert device_name("cpu") == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_requesting_missing_cuda_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    assert available_devices() == (["cpu", "mps"] if torch.backends.mps.is_available() else ["cpu"])
    with pytest.raises(ValueError) as info:
        get_device("cuda")
    assert str(info.value) == f"device 'cuda' is not available on this machine: choose one of {available_devices()}"
    monkeypatch.setenv(DEVICE_ENV, "cuda:1")
    with pytest.raises(ValueError, match=r"^device 'cuda:1' is not available on this machine: choose one of \['cpu'"):
        get_device()


@pytest.mark.parametrize("name", ["gpu", "tpu", "CPU0"])
def test_unknown_device_names_get_the_choices_here_not_torchs_list(name: str) -> None:
    with pytest.raises(ValueError) as info:
        as_device(name)
    choices = available_devices()
    assert str(info.value) == f"unknown device {name!r}: choose one of {choices}, the devices this machine has"
    with pytest.raises(TypeError, match="device must be a string such as .* or a torch.device, got int"):
        as_device(0)  # type: ignore[arg-type]
    assert as_device(torch.device("cpu")) == torch.device("cpu")


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
