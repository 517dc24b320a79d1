"""Where to compute, and how to make a run repeatable."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

#: Set to ``cpu``, ``cuda`` or ``mps`` to override the automatic choice.
DEVICE_ENV = "AENB_DEVICE"


def get_device(prefer: str | None = None) -> torch.device:
    """The best available device: CUDA, then Apple MPS, then CPU.

    ``prefer`` (or the ``AENB_DEVICE`` environment variable) forces a choice, e.g.
    ``"cpu"`` to compare against a GPU run.
    """
    choice = prefer or os.environ.get(DEVICE_ENV)
    if choice:
        device = torch.device(choice)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {choice!r} was requested but CUDA is not available")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError(f"device {choice!r} was requested but Apple MPS is not available")
        return device
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
