"""Shared fixtures: small slices of the real MNIST files (no synthetic stand-ins), CPU, private outputs.

The notebook harness (nbval kernels with private folders, handed to the browser test) is in the
repository's top-level ``conftest.py``: it must also apply to the notebooks' cells, outside tests/.
"""

from __future__ import annotations

import pytest
import torch

from aenb.data import Split, load_dataset


@pytest.fixture(scope="session")
def mnist_train_small() -> Split:
    """The first 2,000 MNIST training images."""
    return load_dataset("mnist", "train", limit=2000)


@pytest.fixture(scope="session")
def mnist_test_small() -> Split:
    """The first 1,000 MNIST test images."""
    return load_dataset("mnist", "test", limit=1000)


@pytest.fixture(autouse=True)
def _cpu_and_private_outputs(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Unit tests run on the CPU and never write into the repository's results/ or checkpoints/."""
    monkeypatch.setenv("AENB_DEVICE", "cpu")
    monkeypatch.setenv("AENB_RESULTS", str(tmp_path_factory.mktemp("results")))
    monkeypatch.setenv("AENB_CHECKPOINTS", str(tmp_path_factory.mktemp("checkpoints")))
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
