"""The first and last cell every notebook shares: ``setup`` and ``finish``.

::

    from aenb.notebook import finish, setup
    from aenb.paths import get_mode

    session = setup(get_mode())      # prints "mode full, device cpu, seed 0"
    FAST = session.fast
    ...
    path = finish(session, "01_basic_autoencoder", {"test_mse": 0.0333})

``setup`` chooses the device, seeds every random number generator and asks IPython for
sharp ("retina") figures on HiDPI screens; ``finish`` writes the notebook's results file
with the mode, device and wall time filled in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .device import device_name, get_device, seed_everything
from .paths import MODES, shown
from .results import save_results


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
    _sharp_inline_figures()
    print(f"mode {mode}, device {device_name(session.device)}, seed {seed}")
    return session


def finish(session: Session, stem: str, metrics: dict[str, Any]) -> Path:
    """Write ``results/<stem>.json`` with ``metrics``, the mode, the device and the seconds since setup."""
    seconds = session.elapsed()
    path = save_results(stem, metrics, mode=session.mode, device=device_name(session.device), seconds=seconds)
    print(f"wrote {shown(path)} ({seconds:.1f} s)")
    return path


def _sharp_inline_figures() -> None:
    """Inline figures at twice the pixel density under IPython (sharp on HiDPI screens); elsewhere nothing."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    if get_ipython() is None:
        return
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    set_matplotlib_formats("retina")
