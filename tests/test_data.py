"""aenb.data on the real dataset files: shapes, values, batching, and clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from torchvision import datasets

from aenb.data import DATA_ENV, DataError, batches, data_dir, load_dataset

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
    with pytest.raises(ValueError, match=r"unknown dataset 'cifar'.*fashion-mnist.*mnist"):
        load_dataset("cifar")
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        load_dataset("mnist", "valid")


def test_data_dir_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert data_dir() == tmp_path
    monkeypatch.delenv(DATA_ENV)
    assert data_dir().name == "data"


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


def test_batches_cover_every_sample_once(mnist_test_small) -> None:
    x, y = mnist_test_small.images[:250], mnist_test_small.labels[:250]
    seen = []
    sizes = []
    for xb, yb in batches(x, y, batch_size=64, generator=torch.Generator().manual_seed(0)):
        sizes.append(len(xb))
        # images and labels stay paired after shuffling
        for image, label in zip(xb[:3], yb[:3]):
            idx = int(torch.nonzero((x == image).flatten(1).all(1))[0, 0])
            assert int(y[idx]) == int(label)
        seen.append(yb)
    assert sizes == [64, 64, 64, 58]
    assert sorted(torch.cat(seen).tolist()) == sorted(y.tolist())


def test_batches_shuffle_is_seeded_and_drop_last(mnist_test_small) -> None:
    y = mnist_test_small.labels[:100]
    first = [b[0] for b in batches(y, batch_size=30, generator=torch.Generator().manual_seed(1), drop_last=True)]
    again = [b[0] for b in batches(y, batch_size=30, generator=torch.Generator().manual_seed(1), drop_last=True)]
    other = [b[0] for b in batches(y, batch_size=30, generator=torch.Generator().manual_seed(2), drop_last=True)]
    assert len(first) == 3
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))
    ordered = torch.cat([b[0] for b in batches(y, batch_size=30, shuffle=False)])
    assert torch.equal(ordered, y)


def test_batches_reject_mismatched_lengths(mnist_test_small) -> None:
    with pytest.raises(ValueError, match=r"same length.*\[10, 9\]"):
        next(batches(mnist_test_small.images[:10], mnist_test_small.labels[:9], batch_size=4))
