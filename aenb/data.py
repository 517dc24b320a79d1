"""Datasets as whole tensors.

Most tutorials feed their model through ``DataLoader(MNIST(transform=ToTensor()))``:
every sample is turned from a PIL image into a tensor inside the training loop, which
costs more than the model itself for these small networks. MNIST and Fashion-MNIST fit
in memory many times over (60,000 x 784 floats = 188 MB), so we convert each split
*once* into a float tensor in [0, 1] -- optionally already on the GPU -- and
:func:`aenb.training.fit` slices mini-batches out of it.

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

import torch
from torchvision import datasets

from .device import as_device
from .paths import ROOT, env_folder

#: Environment variable that points at a folder holding ``MNIST/raw/...`` and
#: ``FashionMNIST/raw/...``; default: ``data/`` at the root of this repository.
DATA_ENV = "AENB_DATA"

#: The datasets aenb knows, by the names the notebooks use.
DATASETS: dict[str, type[datasets.MNIST]] = {
    "mnist": datasets.MNIST,
    "fashion-mnist": datasets.FashionMNIST,
}
SPLITS = ("train", "test")


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


def data_dir() -> Path:
    """The folder datasets live in: ``$AENB_DATA`` if set, else ``data/`` in the repository."""
    return env_folder(DATA_ENV, ROOT / "data")


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


def _read_only_message(cls: type[datasets.MNIST], raw: Path, cause: OSError) -> str:
    have_all = all((raw / filename).exists() for filename, _ in cls.resources)
    why = ("it holds the original .gz files, but torchvision extracts them there once" if have_all
           else "torchvision downloads and extracts the files there")
    return (
        f"Cannot write into {raw} ({type(cause).__name__}: {cause}): {why}. Make the folder writable "
        f"(chmod -R u+w {raw}), or copy {raw.parents[1]} to a writable place and set {DATA_ENV} to the copy."
    )


def _check_arguments(name: object, split: object, limit: object) -> str:
    """The dataset key for ``name``; TypeError / ValueError naming the choices for bad arguments."""
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a string, one of {sorted(DATASETS)}, got {type(name).__name__} {name!r}")
    key = name.lower().replace("_", "-")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}: expected one of {sorted(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: expected 'train' or 'test'")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise TypeError(f"limit must be a positive int (the first `limit` images) or None, got {type(limit).__name__}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive int (the first `limit` images) or None, got {limit}")
    return key


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
        limit: keep only the first ``limit`` samples (fast mode, tests); at least 1.

    Raises:
        TypeError / ValueError: unknown ``name``, ``split`` or ``device``, or a bad ``limit``.
        DataError: files missing and not downloadable, corrupted, unreadable, or in a read-only folder.
    """
    key = _check_arguments(name, split, limit)
    device = as_device(device) if device is not None else None
    cls = DATASETS[key]
    root = data_dir()
    raw = root / cls.__name__ / "raw"
    _check_raw_files(cls, raw)
    extracted = all((raw / filename.removesuffix(".gz")).exists() for filename, _ in cls.resources)
    if not extracted:
        try:  # torchvision verifies the md5 of .gz files already present, else downloads them
            cls(root=str(root), train=(split == "train"), download=True)
        except PermissionError as exc:  # before OSError: a read-only folder is not "offline"
            raise DataError(_read_only_message(cls, raw, exc)) from exc
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


def first_of_each_class(split: Split) -> torch.Tensor:
    """Indices (int64, on the labels' device) of the first image of each class, in class order.

    The notebooks follow these ten images through every figure::

        samples = test.images[first_of_each_class(test)]

    A class with no image in ``split`` (a very small ``limit``) is a ValueError naming it.
    """
    if not isinstance(split, Split):
        raise TypeError(f"first_of_each_class expects a Split from load_dataset, got {type(split).__name__}")
    firsts = []
    for label, name in enumerate(split.classes):
        where = torch.nonzero(split.labels == label).flatten()
        if len(where) == 0:
            raise ValueError(f"no image of class {name!r} among the {len(split)} images of this split: load more")
        firsts.append(where[0])
    return torch.stack(firsts)
