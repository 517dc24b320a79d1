"""The first and last cell every notebook shares: ``setup`` and ``finish``.

::

    from aenb.notebook import finish, setup
    from aenb.paths import get_mode

    session = setup(get_mode())      # prints "mode full, device cpu, seed 0"
    FAST = session.fast
    ...
    path = finish(session, "01_basic_autoencoder", {"test_mse": 0.0333})

``setup`` chooses the device, seeds every random number generator and has IPython show
figures as compact PNGs (:func:`aenb.plotting.compact_png`: each figure at its own dpi,
at most 256 colours), so that a stored notebook stays light; ``finish`` writes the
notebook's results file with the mode, device and wall time filled in.
"""

from __future__ import annotations

import base64
import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .device import device_name, get_device, seed_everything
from .paths import MODES, shown
from .results import save_results

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class Session:
    """What a notebook's cells share: mode, device, seeded generator, start time."""

    mode: str
    device: torch.device
    generator: torch.Generator
    seed: int
    started: float = field(default_factory=time.perf_counter)

    @property
    def fast(self) -> bool:
        """True in fast mode (the tests): fewer images, fewer epochs."""
        return self.mode == "fast"

    def elapsed(self) -> float:
        """Seconds since :func:`setup`."""
        return time.perf_counter() - self.started


def setup(mode: str, seed: int = 0) -> Session:
    """Start a notebook: check ``mode``, pick the device, seed everything, print one line about it."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES} (see aenb.paths.get_mode), got {mode!r}")
    session = Session(mode=mode, device=get_device(), generator=seed_everything(seed), seed=seed)
    _compact_inline_figures()
    print(f"mode {mode}, device {device_name(session.device)}, seed {seed}")
    return session


def finish(session: Session, stem: str, metrics: dict[str, Any]) -> Path:
    """Write ``results/<stem>.json`` with ``metrics``, the mode, the device and the seconds since setup."""
    seconds = session.elapsed()
    path = save_results(stem, metrics, mode=session.mode, device=device_name(session.device), seconds=seconds)
    print(f"wrote {shown(path)} ({seconds:.1f} s)")
    return path


def _compact_inline_figures() -> None:
    """Under IPython, show every Matplotlib figure as :func:`aenb.plotting.compact_png`; elsewhere nothing.

    Figures come out at their own dpi (100) rather than twice that ("retina"), which would store
    four times the pixels of every figure in the notebook; image figures are laid out so that each
    image pixel is a sharp 2 x 2 square anyway (:func:`aenb.plotting.show_rows`).
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    # Importing the inline backend installs its own PNG printer; ours, installed after it, replaces it.
    importlib.import_module("matplotlib_inline.backend_inline")
    from matplotlib.figure import Figure

    shell.display_formatter.formatters["image/png"].for_type(Figure, _figure_png_base64)


def _figure_png_base64(fig: Figure) -> str | None:
    """The figure's :func:`aenb.plotting.compact_png`, base64-encoded as IPython's own PNG printer returns it."""
    from .plotting import compact_png

    png = compact_png(fig)
    return None if png is None else base64.b64encode(png).decode("ascii")
