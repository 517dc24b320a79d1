"""aenb.data on the real dataset files: shapes, values, the first image of each class, and clear errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch
from torchvision import datasets

from aenb.data import DATA_ENV, DataError, data_dir, first_of_each_class, load_dataset

RAW_FILES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]


def test_mnist_test_split_as_tensors() -> None:
    test = load_dataset("mnist", "test")
    assert test.images.shape == (10_000, 1, 28, 28)
    assert test.images.dtype == torch.float32
    assert float(test.images.min()) == 0.0 and float(test.images.max()) == 1.0
    assert test.labels.dtype == torch.int64 and test.labels.shape == (10_000,)
    assert sorted(test.labels.unique().tolist()) == list(range(10))
    assert test.classes[7] == "7 - seven"
    # The well-known first test digit is a 7.
    assert int(test.labels[0]) == 7


def test_fashion_mnist_and_limit() -> None:
    train = load_dataset("fashion-mnist", "train", limit=500)
    assert len(train) == 500 and train.images.shape == (500, 1, 28, 28)
    assert train.classes[9] == "Ankle boot" and train.name == "fashion-mnist"


def test_unknown_names_are_explained() -> None:
    with pytest.raises(ValueError, match=r"unknown dataset 'cifar': expected one of \['fashion-mnist', 'mnist'\]"):
        load_dataset("cifar")
    with pytest.raises(TypeError, match=r"dataset name must be a string, one of \[.*\], got int 3"):
        load_dataset(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown split 'valid': expected 'train' or 'test'"):
        load_dataset("mnist", "valid")
    with pytest.raises(ValueError, match="unknown split 1: expected 'train' or 'test'"):
        load_dataset("mnist", 1)  # type: ignore[arg-type]


@pytest.mark.parametrize("limit", [-5, 0])
def test_limit_below_one_is_refused(limit: int) -> None:
    """A negative limit used to count from the end (``data[:-5]``), silently."""
    with pytest.raises(ValueError) as info:
        load_dataset("mnist", "test", limit=limit)
    assert str(info.value) == f"limit must be a positive int (the first `limit` images) or None, got {limit}"


@pytest.mark.parametrize("limit, kind", [(True, "bool"), (2.5, "float"), ("100", "str")])
def test_limit_that_is_not_an_int_is_refused(limit: object, kind: str) -> None:
    with pytest.raises(TypeError, match=rf"limit must be a positive int .* or None, got {kind}$"):
        load_dataset("mnist", "test", limit=limit)  # type: ignore[arg-type]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the choices on a machine without CUDA")
@pytest.mark.parametrize("device, message", [
    ("gpu", "unknown device 'gpu': choose one of ['cpu'], the devices this machine has"),
    ("tpu", "unknown device 'tpu': choose one of ['cpu'], the devices this machine has"),
    ("cuda", "device 'cuda' is not available on this machine: choose one of ['cpu']"),
])
def test_unavailable_device_lists_the_choices_here(device: str, message: str) -> None:
    """Not torch's list of every backend it knows (``Expected one of cpu, cuda, ipu, xpu, mkldnn, ...``)."""
    with pytest.raises(ValueError) as info:
        load_dataset("mnist", "test", limit=10, device=device)
    assert str(info.value) == message


def test_first_of_each_class_in_class_order(mnist_test_small) -> None:
    idx = first_of_each_class(mnist_test_small)
    assert idx.dtype == torch.int64 and idx.tolist() == [3, 2, 1, 18, 4, 8, 11, 0, 61, 7]
    assert mnist_test_small.labels[idx].tolist() == list(range(10))
    fashion = load_dataset("fashion-mnist", "test", limit=100)
    assert fashion.labels[first_of_each_class(fashion)].tolist() == list(range(10))
    with pytest.raises(ValueError, match="no image of class '0 - zero' among the 3 images of this split: load more"):
        first_of_each_class(load_dataset("mnist", "test", limit=3))


def test_data_dir_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert data_dir() == tmp_path
    monkeypatch.delenv(DATA_ENV)
    assert data_dir().name == "data"
    monkeypatch.setenv(DATA_ENV, " ")
    with pytest.raises(ValueError, match="AENB_DATA is set but empty: unset it .* or give it a folder"):
        load_dataset("mnist", "test")


def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point torchvision's mirrors at a closed local port, so 'download' fails like offline."""
    monkeypatch.setattr(datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])


def test_offline_with_empty_folder_names_files_folder_and_variable(monkeypatch, tmp_path) -> None:
    _offline(monkeypatch)
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    with pytest.raises(DataError) as info:
        load_dataset("mnist", "test")
    message = str(info.value)
    for name in RAW_FILES:
        assert name in message
    assert str(tmp_path / "MNIST" / "raw") in message
    assert DATA_ENV in message
    assert "Traceback" not in message


def _copy_raw(tmp_path: Path) -> Path:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in RAW_FILES:
        shutil.copy(data_dir() / "MNIST" / "raw" / name, raw / name)
    return raw


def test_corrupted_file_fails_the_md5_check(monkeypatch, tmp_path) -> None:
    _offline(monkeypatch)
    raw = _copy_raw(tmp_path)
    bad = raw / "t10k-labels-idx1-ubyte.gz"
    blob = bytearray(bad.read_bytes())
    blob[-10] ^= 0xFF
    bad.write_bytes(bytes(blob))
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz is corrupted.*md5 [0-9a-f]{32}, expected ec29112d"):
        load_dataset("mnist", "test")


def test_copied_original_files_extract_offline(monkeypatch, tmp_path) -> None:
    _offline(monkeypatch)
    _copy_raw(tmp_path)
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert len(load_dataset("mnist", "test")) == 10_000


def test_read_only_folder_with_the_files_is_not_called_offline(monkeypatch, tmp_path) -> None:
    """The .gz files are there and intact, but torchvision cannot extract them into a read-only folder.

    As root, permissions do not stop a write, so there the refusal of the first write torchvision
    makes while extracting is simulated; as any other user the folder really is read-only.
    """
    _offline(monkeypatch)
    raw = _copy_raw(tmp_path)
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    os.chmod(raw, 0o555)
    try:
        if os.geteuid() == 0:
            import torchvision.datasets.utils as tv_utils

            def refuse(from_path: str, to_path: str | None = None, remove_finished: bool = False) -> str:
                target = str(Path(from_path).with_suffix(""))
                raise PermissionError(13, "Permission denied", target)

            monkeypatch.setattr(tv_utils, "extract_archive", refuse)
        with pytest.raises(DataError) as info:
            load_dataset("mnist", "test")
    finally:
        os.chmod(raw, 0o755)
    message = str(info.value)
    assert message.startswith(f"Cannot write into {raw} (PermissionError: [Errno 13] Permission denied")
    assert "it holds the original .gz files, but torchvision extracts them there once" in message
    assert f"set {DATA_ENV} to the copy" in message and "Offline?" not in message


def test_non_mnist_files_are_refused(monkeypatch, tmp_path) -> None:
    """Extracted files that are not IDX images (someone else's files in the folder)."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in RAW_FILES:
        (raw / name.removesuffix(".gz")).write_bytes(b"these are not the images you are looking for")
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    with pytest.raises(DataError, match="not|cannot read"):
        load_dataset("mnist", "test")


def test_fashion_files_in_the_mnist_folder_are_refused(monkeypatch, tmp_path) -> None:
    _offline(monkeypatch)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in RAW_FILES:
        shutil.copy(data_dir() / "FashionMNIST" / "raw" / name, raw / name)
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    with pytest.raises(DataError, match="corrupted or not the original MNIST file"):
        load_dataset("mnist", "test")
