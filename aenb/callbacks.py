"""Keras-style callbacks for :func:`aenb.training.fit`, with only the options the notebooks use.

Keras' hooks and meaning: ``fit`` sets ``self.model``; a callback stops training with
``self.model.stop_training = True`` and may add entries to ``logs`` in ``on_epoch_end`` (they land
in the History). Learning-rate schedules are ``fit(scheduler=...)``, the NaN policy ``fit(on_nan=...)``.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import nn
from tqdm.auto import tqdm

from .checkpoints import save_checkpoint
from .inference import reconstruct
from .paths import shown
from .plotting import plot_snapshots


class Callback:
    """Base class with Keras' hook names; ``fit`` sets ``self.model`` before ``on_train_begin``."""

    model: nn.Module

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None: ...

    def on_train_end(self, logs: dict[str, float] | None = None) -> None: ...


class ReconstructionSnapshots(Callback):
    """Records ``(epoch, reconstructions)`` of a few fixed images in ``snapshots`` after the epochs in ``at``
    (0: before training; None: every epoch), for :func:`aenb.plotting.plot_snapshots`. ``show=N`` also shows
    the latest ``N`` while training runs, one figure redrawn in place (as Keras tutorials do)."""

    def __init__(self, images: torch.Tensor, at: Iterable[int] | None = None, *, show: int = 0,
                 title: str = "Reconstructions during training") -> None:
        self.images = images
        self.at = None if at is None else sorted(set(int(e) for e in at))
        if self.at and self.at[0] < 0:
            raise ValueError(f"snapshot epochs must be >= 0, got {self.at}")
        if show < 0:
            raise ValueError(f"show must be >= 0 (the number of latest snapshots to display), got {show}")
        self.show, self.title, self.snapshots = int(show), title, []

    def _record(self, epoch: int) -> None:
        self.snapshots.append((epoch, reconstruct(self.model, self.images).float()))
        if self.show:
            import matplotlib.pyplot as plt
            from IPython.display import display

            fig = plot_snapshots(self.snapshots[-self.show :], self.images, self.title)
            if self._display is None:
                self._display = display(fig, display_id=True)
            else:
                self._display.update(fig)
            plt.close(fig)

    def on_train_begin(self, logs=None) -> None:
        self.snapshots, self._display = [], None
        if self.at is None or 0 in self.at:
            self._record(0)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if self.at is None or epoch + 1 in self.at:
            self._record(epoch + 1)


class _Monitor(Callback):
    """Shared by :class:`ModelCheckpoint` and :class:`EarlyStopping`: the value to minimise, e.g. ``val_loss``."""

    def __init__(self, monitor: str, verbose: int) -> None:
        self.monitor, self.verbose, self._warned = monitor, verbose, False

    def _current(self, logs: dict[str, float] | None) -> float | None:
        """The monitored value, or None with a warning (once, naming the keys there are)."""
        logs = logs or {}
        if self.monitor in logs:
            return float(logs[self.monitor])
        if not self._warned:
            hint = " (val_* values need validation_data or validation_split in fit)" if "val_" in self.monitor else ""
            warnings.warn(f"{type(self).__name__} monitors {self.monitor!r}, which is not in the logs{hint}; "
                          f"available: {sorted(logs)}. It does nothing until the value appears.",
                          RuntimeWarning, stacklevel=3)
            self._warned = True
        return None

    def _say(self, message: str) -> None:
        if self.verbose:
            tqdm.write(message)  # does not break a console progress bar


class ModelCheckpoint(_Monitor):
    """Keras' ``ModelCheckpoint``: save after each epoch, or with ``save_best_only`` when ``monitor`` decreases.

    ``filepath`` may hold fields filled from ``epoch`` (1-based, as in Keras) and the logs, e.g.
    ``"ckpt/conv-{epoch:02d}-{val_loss:.4f}.pt"``. Files are written by :func:`aenb.checkpoints.save_checkpoint`
    (weights, ``model.config`` and the logs, atomically); ``fit`` shows no callback a diverged epoch, so a
    diverged model is never saved. ``verbose=1`` prints Keras' messages. ``best``, ``best_epoch`` (0-based)
    and ``saved`` (``(epoch, path)`` of every save) tell what happened.
    """

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss", save_best_only: bool = False,
                 verbose: int = 0) -> None:
        super().__init__(monitor, verbose)
        self.filepath, self.save_best_only = os.fspath(filepath), save_best_only
        self.on_train_begin()

    def on_train_begin(self, logs=None) -> None:
        self.best, self.best_epoch = math.inf, None
        self.saved: list[tuple[int, Path]] = []

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs, when = dict(logs or {}), f"Epoch {epoch + 1:05d}"
        try:
            path = Path(self.filepath.format(epoch=epoch + 1, **logs))
        except KeyError as exc:
            raise KeyError(f"ModelCheckpoint cannot fill {self.filepath!r}: no {exc} in the logs; available: "
                           f"epoch, {', '.join(sorted(logs))}") from None
        if not self.save_best_only:
            self._say(f"{when}: saving model to {shown(path)}")
        elif (current := self._current(logs)) is None:
            return
        elif not current < self.best:  # a NaN is never an improvement
            self._say(f"{when}: {self.monitor} did not improve from {self.best:.5f}")
            return
        else:
            self._say(f"{when}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, "
                      f"saving model to {shown(path)}")
            self.best, self.best_epoch = current, epoch
        save_checkpoint(self.model, path, metadata={"epoch": epoch + 1, **logs})
        self.saved.append((epoch, path))


class EarlyStopping(_Monitor):
    """Keras 3's ``EarlyStopping``: stop after ``patience`` epochs in which ``monitor`` did not beat its best by
    more than ``min_delta`` (best epoch ``b``: it stops at ``b + patience``). ``restore_best_weights`` puts the
    best epoch's weights back at the end, also when all epochs ran (Keras 2 did only after an early stop).
    ``stopped_epoch`` (0 if it did not stop, as in Keras), ``best`` and ``best_epoch`` are 0-based."""

    def __init__(self, monitor: str = "val_loss", patience: int = 0, min_delta: float = 0.0,
                 restore_best_weights: bool = False, verbose: int = 0) -> None:
        super().__init__(monitor, verbose)
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"patience must be an int >= 0, got {patience!r}")
        self.patience, self.min_delta, self.restore_best_weights = patience, abs(min_delta), restore_best_weights
        self.on_train_begin()

    def on_train_begin(self, logs=None) -> None:
        self.wait, self.stopped_epoch, self.best, self.best_epoch = 0, 0, math.inf, 0
        self.best_weights: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        current = self._current(logs)
        if current is None:
            return
        improved = current + self.min_delta < self.best
        if self.restore_best_weights and (improved or self.best_weights is None):
            # Until something improves, the first monitored epoch's weights count as the best.
            self.best_weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self.best_epoch = epoch
        self.wait += 1
        if improved:
            self.best, self.best_epoch, self.wait = current, epoch, 0
        elif self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None) -> None:
        if self.stopped_epoch > 0:
            self._say(f"Epoch {self.stopped_epoch + 1:05d}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            self._say(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.load_state_dict(self.best_weights)


class ScoreEachEpoch(Callback):
    """After every epoch, each named score of the model (e.g. the validation and test error), and the training
    seconds so far *without* the scoring, in ``rows``: one dict per epoch with ``epoch`` (1-based),
    ``images_seen``, ``train_seconds`` and the scores. For time-to-quality curves (``benchmarks/``) and the
    published runs' metadata; the scores are for reporting, so nothing here feeds back into training."""

    def __init__(self, scores: dict[str, Callable[[nn.Module], float]], images_per_epoch: int) -> None:
        self.scores, self.images_per_epoch = scores, images_per_epoch
        self.rows: list[dict] = []
        self.scoring_seconds, self.start = 0.0, 0.0

    def on_train_begin(self, logs=None) -> None:
        self.rows, self.scoring_seconds, self.start = [], 0.0, time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        t = time.perf_counter()
        row = {"epoch": epoch + 1, "images_seen": (epoch + 1) * self.images_per_epoch,
               "train_seconds": round(t - self.start - self.scoring_seconds, 1)}
        row.update({name: round(score(self.model), 5) for name, score in self.scores.items()})
        self.rows.append(row)
        self.scoring_seconds += time.perf_counter() - t
