"""Headline metrics written by the notebooks, as JSON files.

Each notebook ends with ``save_results("01_basic_autoencoder", {...}, mode=..., device=...,
seconds=...)`` (or :func:`aenb.notebook.finish`, which fills in the last three). The README's
tables are built from these files by ``tools/readme_tables.py`` (``make results``).

A results file is strict JSON that any tool can read: numbers must be finite (JSON has no NaN),
NumPy scalars and 0-d tensors are converted to Python numbers, anything else is refused with the
key it was found under, and the file is written atomically.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .paths import atomic_write, output_dir, shown

#: Keys that save_results adds itself.
RESERVED = ("mode", "device", "seconds")
_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def save_results(stem: str, metrics: dict[str, Any], *, mode: str, device: str, seconds: float) -> Path:
    """Write ``results/<stem>.json`` (``results/<mode>/<stem>.json`` outside full mode).

    Raises:
        ValueError: a stem that is not a plain file name, a non-finite number anywhere in
            ``metrics``, a reserved key, or ``seconds`` not a finite number >= 0.
        TypeError: a value that is not a number, string, bool, None, list or dict of them.
    """
    if not isinstance(stem, str) or not _STEM.fullmatch(stem):
        raise ValueError(f"stem must be a file name of letters, digits, '_' and '-' such as "
                         f"'01_basic_autoencoder' (it stays inside the results folder), got {stem!r}")
    if not isinstance(metrics, dict):
        raise TypeError(f"metrics must be a dict of name -> value, got {type(metrics).__name__}")
    clash = [key for key in RESERVED if key in metrics]
    if clash:
        raise ValueError(f"metrics may not use the keys {clash}: save_results records mode, device and seconds itself")
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real) or not 0 <= seconds < math.inf:
        raise ValueError(f"seconds must be a finite number >= 0 (the notebook's wall time), got {seconds!r}")
    record = {**_plain(metrics, "metrics"), "mode": mode, "device": str(device), "seconds": round(float(seconds), 1)}
    path = output_dir("results", mode) / f"{stem}.json"
    text = json.dumps(record, indent=2, allow_nan=False) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def _plain(value: Any, where: str) -> Any:
    """``value`` as plain JSON data; ``where`` (e.g. ``metrics['ssim']['our conv']``) names it in errors."""
    if isinstance(value, torch.Tensor) and value.ndim == 0:
        value = value.item() if value.dtype == torch.bfloat16 else value.detach().cpu().numpy()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, np.floating):
        value = float(str(value))  # the shortest decimal at its precision: float32 0.03 is 0.03, not 0.029999999329
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        if not math.isfinite(value):
            raise ValueError(f"{where} is {value}: refusing to record a non-finite result (JSON has no NaN)")
        return float(value)
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise TypeError(f"{where} has key {bad[0]!r} ({type(bad[0]).__name__}): JSON keys must be strings")
        return {k: _plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    shape = f" of shape {tuple(value.shape)}" if hasattr(value, "shape") else ""
    raise TypeError(f"{where} has type {type(value).__name__}{shape}: results hold numbers, strings, lists and dicts "
                    f"(convert with float(...) or .tolist())")


def load_results(results_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """All full-mode result files, by notebook stem (``benchmarks.json`` excluded)."""
    folder = results_dir or output_dir("results", "full")
    return {p.stem: read_record(p) for p in sorted(folder.glob("[0-9][0-9]_*.json"))}


def read_record(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; a file that is empty, not JSON, or not an object is a ValueError naming it."""
    text = path.read_text()
    if not text.strip():
        raise ValueError(f"{shown(path)} is empty: expected a JSON object (rerun what writes it, or restore it "
                         f"with git checkout -- {shown(path)})")
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise ValueError(f"{shown(path)} is not valid JSON: {exc.msg} at {where}") from exc
    if not isinstance(record, dict):
        raise ValueError(f"{shown(path)} should hold a JSON object at the top, found {describe_json(record)}")
    return record


def describe_json(value: Any) -> str:
    """``value`` as a message shows what a JSON file held: ``the string "12"``, ``NaN``, ``an array of 2 entries``."""
    if isinstance(value, str):
        return f"the string {json.dumps(value)}"
    if isinstance(value, (dict, list)):
        entries = "1 entry" if len(value) == 1 else f"{len(value)} entries"
        return f"{'an object' if isinstance(value, dict) else 'an array'} of {entries}"
    return json.dumps(value)  # a number, NaN, Infinity, true, false or null, as the file spells it
