"""Where notebooks write what they produce, and how to write it safely.

Full-mode outputs (what a reader's run produces, and what is committed) go to
``results/<stem>.json`` and ``checkpoints/<name>.pt``. Any other mode (``fast``, used
by the tests) writes under a sub-folder named after the mode, so a test run never
overwrites a reader's results.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

#: Root of the repository (the folder holding ``pyproject.toml``) for an editable install.
ROOT = Path(__file__).resolve().parents[1]

#: Environment variable that selects the notebooks' mode: ``full`` (default) or ``fast``.
MODE_ENV = "AENB_MODE"
MODES = ("full", "fast")


def get_mode() -> str:
    """The run mode from ``$AENB_MODE``: ``"full"`` (default) or ``"fast"``."""
    mode = os.environ.get(MODE_ENV, "full").strip().lower() or "full"
    if mode not in MODES:
        raise ValueError(f"{MODE_ENV} must be one of {MODES}, got {mode!r}")
    return mode


def output_dir(kind: str, mode: str) -> Path:
    """``<root>/<kind>`` in full mode, ``<root>/<kind>/<mode>`` otherwise.

    ``$AENB_RESULTS`` / ``$AENB_CHECKPOINTS`` override ``<root>/<kind>``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    base = Path(os.environ.get(f"AENB_{kind.upper()}", ROOT / kind))
    return base if mode == "full" else base / mode


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Write a file so that readers see either the old or the complete new content.

    ``write(tmp_path)`` writes to a temporary file in the same folder, which then
    replaces ``path`` with one atomic ``os.replace``. An interrupted or failed write
    leaves no half-written file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def shown(path: str | os.PathLike) -> str:
    """``path`` relative to the repository root when inside it, for short messages."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)
