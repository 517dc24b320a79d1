"""Saving and loading models safely.

A checkpoint holds the weights *and* the arguments the model was built with, so it
can be rebuilt without knowing them. Loading uses ``torch.load(weights_only=True)``:
only tensors and plain containers are unpickled, so a file carrying a pickled payload
(arbitrary code that would run on load) is refused rather than executed. A file that was
edited by hand is checked before anything is built from it: every entry must be there, and
the stored config must describe tensors of the shapes stored (a config asking for a
billion-unit layer is refused without allocating it). Before any of that, the file's size and
the sizes its zip records declare are checked, so a small file that would inflate into gigabytes
is refused before PyTorch allocates them (see :func:`check_archive_sizes`).
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from .paths import atomic_write

FORMAT = "aenb-checkpoint-v1"
#: The entries of a checkpoint file and the type each must have.
ENTRIES: dict[str, type] = {"format": str, "class": str, "config": dict, "state_dict": dict, "metadata": dict}
M = TypeVar("M", bound=nn.Module)
#: The largest checkpoint file read at all. The series' largest model takes a few MB; the bound
#: leaves room for bigger experiments while refusing a multi-gigabyte file before reading it.
MAX_CHECKPOINT_BYTES = 256 * 2**20


class CheckpointError(RuntimeError):
    """The checkpoint is unsafe, unreadable, or for another model."""


def save_checkpoint(model: nn.Module, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s weights and constructor arguments (``model.config``) to ``path``.

    ``metadata`` (plain numbers, strings, lists, dicts) is stored beside them, e.g. the
    test MSE and the mode it was trained in. The write is atomic.
    """
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise TypeError(f"{type(model).__name__} has no `config` dict of constructor arguments; cannot checkpoint it")
    payload = {
        "format": FORMAT,
        "class": type(model).__name__,
        "config": config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": dict(metadata or {}),
    }
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw checkpoint dict, loaded with ``weights_only=True``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    check_archive_sizes(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"refused to load {path}: it contains Python objects other than tensors and plain "
            f"containers, which could run code when unpickled. Only load checkpoints you trust "
            f"with weights_only=False. ({str(exc).splitlines()[0]})"
        ) from exc
    except Exception as exc:  # truncated or not a torch file at all
        raise CheckpointError(f"cannot read {path} as a checkpoint: {type(exc).__name__}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an aenb checkpoint (expected format {FORMAT!r})")
    for key, kind in ENTRIES.items():
        if key not in payload:
            raise CheckpointError(
                f"{path} has no {key!r} entry: the file was altered or not written by save_checkpoint")
        if not isinstance(payload[key], kind):
            raise CheckpointError(f"{path}: {key!r} should be a {kind.__name__}, found {type(payload[key]).__name__}")
    return payload


def check_archive_sizes(path: Path) -> None:
    """Refuse a file that is too large, or whose zip records declare more bytes than the file holds.

    ``torch.save`` writes a zip archive whose records are *stored*, not compressed, so together
    they are never larger than the file itself. ``torch.load`` allocates each record's declared
    uncompressed size before reading it, so a hostile file can deflate a record of gigabytes of
    zeros into a few MB. The config that would bound the tensors is itself inside the archive and
    cannot be read without them, so the bound comes from the file: the records' declared sizes
    (read from the zip's directory by :mod:`zipfile`, nothing decompressed) must sum to at most
    the file's size. Nothing but the directory is read before this check passes.
    """
    size = path.stat().st_size
    if size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"refused to read {path}: it is {size:,} bytes, more than the {MAX_CHECKPOINT_BYTES:,} "
                              f"a checkpoint may have (MAX_CHECKPOINT_BYTES; the series' models take a few MB)")
    try:
        with zipfile.ZipFile(path) as archive:
            records = archive.infolist()
    except Exception as exc:  # truncated, or not a zip archive as torch.save writes
        raise CheckpointError(f"cannot read {path} as a checkpoint: {type(exc).__name__}: {exc}") from exc
    declared = sum(record.file_size for record in records)
    if declared > size:
        largest = max(records, key=lambda record: record.file_size)
        raise CheckpointError(
            f"refused to read {path}: its zip records declare {declared:,} bytes uncompressed in a {size:,}-byte "
            f"file (the largest, {largest.filename!r}, {largest.file_size:,} bytes stored in "
            f"{largest.compress_size:,}); torch.save stores records uncompressed, so they cannot exceed the "
            f"file: this one was crafted or damaged, and loading it would allocate that memory")


def load_checkpoint(path: str | Path, cls: type[M], **expected_config: Any) -> tuple[M, dict[str, Any]]:
    """Rebuild a ``cls`` model from ``path``; returns ``(model, metadata)``.

    ``expected_config`` entries (e.g. ``sizes=[784, 128, 64, 12, 3]``) must match the
    stored constructor arguments, so a checkpoint of another architecture or latent size
    is refused with a message naming the difference. The model is returned in eval mode
    on the CPU.
    """
    payload = read_checkpoint(path)
    if payload["class"] != cls.__name__:
        raise CheckpointError(f"{path} holds a {payload['class']}, not a {cls.__name__}")
    config = payload["config"]
    expected = {k: list(v) if isinstance(v, tuple) else v for k, v in expected_config.items()}
    mismatches = [
        f"{key}: checkpoint has {config.get(key)!r}, expected {value!r}"
        for key, value in expected.items()
        if config.get(key) != value
    ]
    if mismatches:
        raise CheckpointError(f"{path} is for another {cls.__name__}: " + "; ".join(mismatches))
    _check_shapes(path, cls, config, payload["state_dict"])
    model = cls(**config)
    model.load_state_dict(payload["state_dict"])
    return model.eval(), payload["metadata"]


def _check_shapes(path: Path | str, cls: type[nn.Module], config: dict[str, Any], stored: dict[str, Any]) -> None:
    """Refuse a config whose model would not hold exactly the stored tensors, before allocating it.

    The model is built on PyTorch's ``meta`` device, which records shapes without memory, so a
    tampered ``sizes=[784, 10**9]`` costs nothing; its state dict is then compared with the file's.
    """
    try:
        with torch.device("meta"):
            expected = {name: tuple(t.shape) for name, t in cls(**config).state_dict().items()}
    except Exception as exc:  # a config the constructor refuses: wrong names, types or values
        raise CheckpointError(f"{path}: cannot build {cls.__name__}(**{config}): {type(exc).__name__}: {exc}") from exc
    found = {name: tuple(t.shape) if isinstance(t, torch.Tensor) else None for name, t in stored.items()}
    problems = [f"missing {name}" for name in expected if name not in found]
    problems += [f"unexpected {name}" for name in found if name not in expected]
    problems += [f"{name} is {found[name]} in the file, {shape} for this config"
                 for name, shape in expected.items() if name in found and found[name] != shape]
    if problems:
        shown_problems = "; ".join(problems[:4]) + (f"; and {len(problems) - 4} more" if len(problems) > 4 else "")
        raise CheckpointError(f"{path}: the weights do not fit {cls.__name__}(**{config}): {shown_problems}")
