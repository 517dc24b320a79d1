"""Where notebooks write what they produce, and how to write it safely.

Full-mode outputs (what a reader's run produces, and what is committed) go to
``results/<stem>.json`` and ``checkpoints/<name>.pt``. Any other mode (``fast``, used
by the tests) writes under a sub-folder named after the mode, so a test run never
overwrites a reader's results.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path
from typing import Callable

#: Root of the repository (the folder holding ``pyproject.toml``) for an editable install.
ROOT = Path(__file__).resolve().parents[1]

#: Environment variable that selects the notebooks' mode: ``full`` (default) or ``fast``.
MODE_ENV = "AENB_MODE"
MODES = ("full", "fast")

#: A temporary file of :func:`atomic_write` untouched for this long belongs to a killed process.
STALE_SECONDS = 3600.0


def get_mode() -> str:
    """The run mode from ``$AENB_MODE``: ``"full"`` (default) or ``"fast"``."""
    mode = os.environ.get(MODE_ENV, "full").strip().lower() or "full"
    if mode not in MODES:
        raise ValueError(f"{MODE_ENV} must be one of {MODES}, got {mode!r}")
    return mode


def env_folder(variable: str, default: Path) -> Path:
    """The folder named by ``$variable`` (``~`` expanded), or ``default`` when it is unset.

    An empty or blank value is an error rather than the current directory: ``AENB_RESULTS=``
    left over in a shell would otherwise scatter files wherever the kernel was started.
    """
    value = os.environ.get(variable)
    if value is None:
        return default
    if not value.strip():
        raise ValueError(f"{variable} is set but empty: unset it (default {shown(default)}) or give it a folder")
    return Path(value).expanduser()


def output_dir(kind: str, mode: str) -> Path:
    """``<root>/<kind>`` in full mode, ``<root>/<kind>/<mode>`` otherwise.

    ``$AENB_RESULTS`` / ``$AENB_CHECKPOINTS`` override ``<root>/<kind>``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    base = env_folder(f"AENB_{kind.upper()}", ROOT / kind)
    return base if mode == "full" else base / mode


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Write a file so that readers see either the old or the complete new content.

    ``write(tmp_path)`` writes to a temporary file ``.<name>.<random>.tmp`` in the same folder,
    which then replaces ``path`` with one atomic ``os.replace``. A failed or interrupted write
    removes its temporary file; one killed outright (SIGKILL, power loss) cannot, so each write
    first removes the stale ones it finds there (see :func:`remove_stale_temporaries`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
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


# mkstemp's names: our prefix ".<name>.", 8 characters from [a-z0-9_], our suffix ".tmp".
_TEMPORARY = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")


def remove_stale_temporaries(folder: Path, max_age: float = STALE_SECONDS) -> list[Path]:
    """Delete :func:`atomic_write` temporaries in ``folder`` not modified for ``max_age`` seconds.

    Age rather than "is its writer alive": the names carry no process id (and a process id says
    nothing on a shared or network folder), while a live write touches its file continuously and
    takes seconds, so a temporary left untouched for an hour is from a process that was killed.
    Only names of the form ``.<name>.<8 characters>.tmp`` are considered. Returns what was removed.
    """
    removed = []
    cutoff = time.time() - max_age
    for candidate in folder.glob(".*.tmp"):
        try:
            if _TEMPORARY.fullmatch(candidate.name) and candidate.is_file() and candidate.stat().st_mtime < cutoff:
                candidate.unlink()
                removed.append(candidate)
        except OSError:  # removed meanwhile by another writer, or not ours to remove: leave it
            continue
    return removed


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
