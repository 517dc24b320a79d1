"""Where to compute, and how to make a run repeatable."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

#: Set to ``cpu``, ``cuda`` or ``mps`` to override the automatic choice.
DEVICE_ENV = "AENB_DEVICE"


def available_devices() -> list[str]:
    """The device names that work on this machine: ``"cpu"``, then ``"cuda"``, ``"cuda:1"``... and ``"mps"``."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        names.append("mps")
    return names


def as_device(device: torch.device | str) -> torch.device:
    """``device`` as a ``torch.device`` that exists here, or a ValueError listing the ones that do.

    ``torch.device("gpu")`` would answer with the 30-odd backends PyTorch knows of, and
    ``torch.device("cuda")`` on a machine without CUDA only fails at the first tensor moved.
    """
    choices = available_devices()
    if not isinstance(device, (str, torch.device)):
        raise TypeError(
            f"device must be a string such as {choices[-1]!r} or a torch.device, got {type(device).__name__}")
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}: choose one of {choices}, the devices this machine has") from None
    if parsed.type == "cpu":
        return parsed
    usable = {
        "cuda": torch.cuda.is_available() and (parsed.index or 0) < torch.cuda.device_count(),
        "mps": torch.backends.mps.is_available(),
    }
    if not usable.get(parsed.type, False):
        raise ValueError(f"device {str(device)!r} is not available on this machine: choose one of {choices}")
    return parsed


def get_device(prefer: torch.device | str | None = None) -> torch.device:
    """The best available device: CUDA, then Apple MPS, then CPU.

    ``prefer`` (or the ``AENB_DEVICE`` environment variable) forces a choice, e.g.
    ``"cpu"`` to compare against a GPU run; one that does not exist here is a ValueError
    listing the choices (see :func:`as_device`).
    """
    choice = prefer or os.environ.get(DEVICE_ENV, "").strip()
    if choice:
        return as_device(choice)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def device_name(device: torch.device | str) -> str:
    """A short human-readable name, e.g. ``"cpu"`` or ``"cuda (NVIDIA H100 80GB HBM3)"``."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch, and return a CPU generator seeded the same way.

    With the same seed, two CPU runs of the same code give identical results. On a GPU,
    some kernels (e.g. atomics in scatter/index_add and some cuDNN convolutions) are
    non-deterministic, so losses can differ in the last digits between runs; call
    ``torch.use_deterministic_algorithms(True)`` if you need bit-identical GPU runs and
    accept the slowdown.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
