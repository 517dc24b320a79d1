"""Datasets as whole tensors, and a fast mini-batch iterator over them.

Most tutorials feed their model through ``DataLoader(MNIST(transform=ToTensor()))``:
every sample is turned from a PIL image into a tensor inside the training loop, which
costs more than the model itself for these small networks. MNIST and Fashion-MNIST fit
in memory many times over (60,000 x 784 floats = 188 MB), so we convert each split
*once* into a float tensor in [0, 1] -- optionally already on the GPU -- and slice
mini-batches out of it with :func:`batches`.

Files come from ``torchvision.datasets`` with ``download=True``. Offline, put the
original ``.gz`` files in ``data/<Dataset>/raw/`` (or point ``AENB_DATA`` at a folder
that holds them): torchvision verifies their md5 sums and extracts them without
touching the network.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
from torchvision import datasets

#: Environment variable that points at a folder holding ``MNIST/raw/...`` and
#: ``FashionMNIST/raw/...``; default: ``data/`` at the root of this repository.
DATA_ENV = "AENB_DATA"

#: The datasets aenb knows, by the names the notebooks use.
DATASETS: dict[str, type[datasets.MNIST]] = {
    "mnist": datasets.MNIST,
    "fashion-mnist": datasets.FashionMNIST,
}


class DataError(RuntimeError):
    """The dataset files are missing, corrupted or not what they claim to be."""


@dataclass
class Split:
    """One split of a dataset, held as tensors.

    Attributes:
        images: float32 tensor of shape ``(N, 1, 28, 28)`` with values in ``[0, 1]``.
        labels: int64 tensor of shape ``(N,)``.
        classes: human-readable class names, ``classes[label]``.
        name: the dataset name, e.g. ``"mnist"``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str

    def __len__(self) -> int:
        return len(self.images)

    def to(self, device: torch.device | str) -> "Split":
        """A copy of this split on ``device``."""
        return Split(self.images.to(device), self.labels.to(device), self.classes, self.name)

    def subset(self, n: int | None) -> "Split":
        """The first ``n`` samples (all of them when ``n`` is None)."""
        if n is None or n >= len(self):
            return self
        return Split(self.images[:n], self.labels[:n], self.classes, self.name)


def data_dir() -> Path:
    """The folder datasets live in: ``$AENB_DATA`` if set, else ``data/`` in the repository."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[1] / "data"


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _check_raw_files(cls: type[datasets.MNIST], raw: Path) -> None:
    """Fail early and clearly if a ``.gz`` file is present but corrupted.

    torchvision would otherwise treat a corrupted file as absent and try to download it,
    which offline ends in a network traceback that never mentions the bad file.
    """
    for filename, md5 in cls.resources:
        path = raw / filename
        if path.exists():
            got = _md5(path)
            if got != md5:
                raise DataError(
                    f"{path} is corrupted or not the original {cls.__name__} file: "
                    f"md5 {got}, expected {md5}. Delete it and copy the original file again."
                )


def _missing_message(cls: type[datasets.MNIST], raw: Path, cause: BaseException) -> str:
    files = "\n".join(f"  {raw / filename}" for filename, _ in cls.resources)
    return (
        f"Could not download {cls.__name__} ({type(cause).__name__}: {str(cause).splitlines()[0]}).\n"
        f"Offline? Copy the four original files into {raw}/:\n{files}\n"
        f"or set {DATA_ENV} to a folder that holds {cls.__name__}/raw/ with them "
        f"(currently {DATA_ENV}={os.environ.get(DATA_ENV, '<unset>')})."
    )


def load_dataset(
    name: str = "mnist",
    split: str = "train",
    *,
    device: torch.device | str | None = None,
    limit: int | None = None,
) -> Split:
    """Load a whole split of MNIST or Fashion-MNIST as tensors.

    Args:
        name: ``"mnist"`` or ``"fashion-mnist"``.
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000 images).
        device: where to put the tensors (default: CPU). Putting them on the GPU once
            removes all host-to-device copies from the training loop.
        limit: keep only the first ``limit`` samples (fast mode, tests).

    Raises:
        ValueError: unknown ``name`` or ``split``.
        DataError: files missing and not downloadable, corrupted, or unreadable.
    """
    key = name.lower().replace("_", "-")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}: expected one of {sorted(DATASETS)}")
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}: expected 'train' or 'test'")
    cls = DATASETS[key]
    root = data_dir()
    raw = root / cls.__name__ / "raw"
    _check_raw_files(cls, raw)
    extracted = all((raw / filename.removesuffix(".gz")).exists() for filename, _ in cls.resources)
    if not extracted:
        try:  # torchvision verifies the md5 of .gz files already present, else downloads them
            cls(root=str(root), train=(split == "train"), download=True)
        except (RuntimeError, OSError) as exc:  # offline: URLError (an OSError) or RuntimeError
            raise DataError(_missing_message(cls, raw, exc)) from exc
    try:
        ds = cls(root=str(root), train=(split == "train"), download=False)
    except Exception as exc:  # extracted files that are not IDX files
        raise DataError(
            f"{raw} holds files torchvision cannot read as {cls.__name__} ({type(exc).__name__}: {exc}). "
            f"Delete the extracted files there and copy the original .gz files again."
        ) from exc
    expected = 60_000 if split == "train" else 10_000
    if ds.data.shape != (expected, 28, 28):
        raise DataError(
            f"{raw} holds {tuple(ds.data.shape)} images, expected ({expected}, 28, 28) for "
            f"{cls.__name__} {split}: these are not the original files."
        )
    n = len(ds.data) if limit is None else min(limit, len(ds.data))
    images = ds.data[:n].unsqueeze(1).float().div_(255.0)
    labels = ds.targets[:n].long()
    out = Split(images, labels, list(cls.classes), key)
    return out.to(device) if device is not None else out


def batches(
    *tensors: torch.Tensor,
    batch_size: int,
    shuffle: bool = True,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, ...]]:
    """Yield mini-batches sliced out of tensors that share their first dimension.

    The permutation is drawn on the tensors' device, so a GPU-resident dataset is
    shuffled and indexed without any host round trip.

    Example::

        for (xb,) in batches(train.images, batch_size=100):
            ...
    """
    if not tensors:
        raise ValueError("batches() needs at least one tensor")
    n = len(tensors[0])
    for t in tensors[1:]:
        if len(t) != n:
            raise ValueError(f"all tensors must have the same length: got {[len(t) for t in tensors]}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    device = tensors[0].device
    if shuffle:
        if generator is not None and generator.device != device:
            order = torch.randperm(n, generator=generator).to(device)
        else:
            order = torch.randperm(n, generator=generator, device=device)
    else:
        order = None
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        if order is None:
            yield tuple(t[start : start + batch_size] for t in tensors)
        else:
            idx = order[start : start + batch_size]
            yield tuple(t[idx] for t in tensors)
