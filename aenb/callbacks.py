"""Keras-style callbacks for :func:`aenb.training.fit`.

Same hook names and meaning as Keras: ``on_train_begin``, ``on_epoch_begin(epoch)``,
``on_epoch_end(epoch, logs)``, ``on_train_end``. ``fit`` sets ``self.model`` and
``self.optimizer``; a callback stops training by setting ``self.model.stop_training = True``
and may add entries to ``logs`` in ``on_epoch_end`` (they land in the History).
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import nn
from tqdm.auto import tqdm

from .checkpoints import save_checkpoint
from .models.common import reconstruction_of
from .paths import shown


class Callback:
    """Base class with Keras' hook names. ``fit`` sets ``self.model`` and ``self.optimizer``."""

    model: nn.Module
    optimizer: torch.optim.Optimizer | None = None

    def set_model(self, model: nn.Module) -> None:
        self.model = model

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None: ...

    def on_train_end(self, logs: dict[str, float] | None = None) -> None: ...


class ReconstructionSnapshots(Callback):
    """Records the model's reconstructions of a few fixed images as training goes on.

    ``at`` lists the epochs after which to record (0 means *before* training); ``None``
    records after every epoch. ``snapshots`` is a list of ``(epoch, images)`` on the CPU;
    draw it with :func:`aenb.plotting.plot_snapshots` to watch the decoder learn.

    With ``show=N`` it also *shows* the inputs and the latest ``N`` snapshots while training
    runs, as one figure that is redrawn in place (in Jupyter; a console gets the figure's
    text form) -- the "show reconstructions every few epochs" callback of Keras tutorials.
    """

    def __init__(self, images: torch.Tensor, at: Iterable[int] | None = None, *, show: int = 0,
                 title: str = "Reconstructions during training") -> None:
        self.images = images
        self.at = None if at is None else sorted(set(int(e) for e in at))
        if self.at is not None and self.at and self.at[0] < 0:
            raise ValueError(f"snapshot epochs must be >= 0, got {self.at}")
        if show < 0:
            raise ValueError(f"show must be >= 0 (the number of latest snapshots to display), got {show}")
        self.show = int(show)
        self.title = title
        self._display = None
        self.snapshots: list[tuple[int, torch.Tensor]] = []

    def _record(self, epoch: int) -> None:
        device = next(self.model.parameters()).device
        was_training = self.model.training
        self.model.eval()
        with torch.inference_mode():
            out = self.model(self.images.to(device))
        self.model.train(was_training)
        self.snapshots.append((epoch, reconstruction_of(out).float().cpu()))
        if self.show:
            self._redraw()

    def _redraw(self) -> None:
        import matplotlib.pyplot as plt
        from IPython.display import display

        from .plotting import plot_snapshots  # plotting imports training, which imports this module

        fig = plot_snapshots(self.snapshots[-self.show :], self.images, self.title)
        if self._display is None:
            self._display = display(fig, display_id=True)
        else:
            self._display.update(fig)
        plt.close(fig)

    def on_train_begin(self, logs=None) -> None:
        self.snapshots = []
        self._display = None
        if self.at is None or 0 in self.at:
            self._record(0)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if self.at is None or epoch + 1 in self.at:
            self._record(epoch + 1)


class LearningRateScheduler(Callback):
    """Keras' ``LearningRateScheduler``: ``schedule(epoch, lr) -> new lr`` at each epoch start.

    The rate used is logged as ``"lr"``. Example, a cosine decay over 30 epochs::

        LearningRateScheduler(lambda epoch, lr: 2e-3 * 0.5 * (1 + math.cos(math.pi * epoch / 30)))
    """

    def __init__(self, schedule: Callable[[int, float], float]) -> None:
        self.schedule = schedule

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        if self.optimizer is None:
            raise RuntimeError("LearningRateScheduler needs fit() to hand it the optimizer")
        lr = float(self.schedule(epoch, float(self.optimizer.param_groups[0]["lr"])))
        if not math.isfinite(lr) or lr < 0:
            raise ValueError(f"schedule returned learning rate {lr} for epoch {epoch}; expected a finite value >= 0")
        for group in self.optimizer.param_groups:
            if isinstance(group["lr"], torch.Tensor):  # fit's GPU optimizer: change it in place
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if logs is not None and self.optimizer is not None:
            logs["lr"] = float(self.optimizer.param_groups[0]["lr"])


def _say(message: str) -> None:
    """Print a callback's message without breaking a console progress bar."""
    tqdm.write(message)


class _MonitorCallback(Callback):
    """Shared by :class:`ModelCheckpoint` and :class:`EarlyStopping`: which value, which direction."""

    def __init__(self, monitor: str, mode: str) -> None:
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.mode = mode
        self._warned = False

    @property
    def higher_is_better(self) -> bool:
        """``mode="auto"`` maximises accuracy-like names (``acc``, ``auc``...) and minimises the rest."""
        if self.mode != "auto":
            return self.mode == "max"
        name = self.monitor.removeprefix("val_")
        return "acc" in name or name.startswith(("auc", "fmeasure", "precision", "recall"))

    def _initial_best(self) -> float:
        return -math.inf if self.higher_is_better else math.inf

    def _better(self, current: float, reference: float, min_delta: float = 0.0) -> bool:
        """Strict improvement by more than ``min_delta`` (a NaN is never an improvement)."""
        if self.higher_is_better:
            return current - min_delta > reference
        return current + min_delta < reference

    def _current(self, logs: dict[str, float] | None) -> float | None:
        """The monitored value; warns once (naming the keys there are) when it is missing."""
        logs = logs or {}
        if self.monitor in logs:
            return float(logs[self.monitor])
        if not self._warned:
            hint = (" (val_* values need validation_data or validation_split in fit)"
                    if self.monitor.startswith("val_") else "")
            warnings.warn(
                f"{type(self).__name__} monitors {self.monitor!r}, which is not in the logs{hint}; "
                f"available: {sorted(logs)}. It does nothing until the value appears.",
                RuntimeWarning,
                stacklevel=3,
            )
            self._warned = True
        return None


class ModelCheckpoint(_MonitorCallback):
    """Keras' ``ModelCheckpoint``: save the model after each epoch, or only when it improves.

    The file is written with :func:`aenb.checkpoints.save_checkpoint` (weights *and*
    ``model.config``, atomically), so :func:`aenb.checkpoints.load_checkpoint` rebuilds the
    model; the metadata holds ``epoch`` (1-based, as in the messages) and the epoch's logs.

    Args:
        filepath: where to save. May hold format fields filled from ``epoch`` (1-based, as in
            Keras) and the epoch's logs, e.g. ``"ckpt/conv-{epoch:02d}-{val_loss:.4f}.pt"``;
            without them, each save overwrites the same file.
        monitor: the logs entry to compare, default ``"val_loss"``.
        save_best_only: save only when ``monitor`` improves on the best value so far.
        mode: ``"min"``, ``"max"``, or ``"auto"`` (max for accuracy-like names, else min).
        verbose: 1 prints Keras' messages, e.g. ``Epoch 00005: val_loss improved from
            0.03120 to 0.02980, saving model to ...``.
        initial_value_threshold: a best value to beat before the first save (Keras 2.9+).

    Attributes:
        best: the best monitored value so far; ``best_epoch``: its epoch (0-based);
        saved: ``(epoch, path)`` of every save, epochs 0-based like ``History.epoch``.
    """

    def __init__(
        self,
        filepath: str | os.PathLike,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        mode: str = "auto",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__(monitor, mode)
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.initial_value_threshold = initial_value_threshold
        self.best = self._start_best()
        self.best_epoch: int | None = None
        self.saved: list[tuple[int, Path]] = []

    def _start_best(self) -> float:
        return self._initial_best() if self.initial_value_threshold is None else float(self.initial_value_threshold)

    def on_train_begin(self, logs=None) -> None:
        # A fresh fit starts a fresh record (Keras keeps `best` across fits of one instance).
        self.best = self._start_best()
        self.best_epoch = None
        self.saved = []

    def _path(self, epoch: int, logs: dict[str, float]) -> Path:
        try:
            return Path(self.filepath.format(epoch=epoch + 1, **logs))
        except KeyError as exc:
            raise KeyError(
                f"ModelCheckpoint cannot fill {self.filepath!r}: no {exc} in the logs; available: "
                f"epoch, {', '.join(sorted(logs))}"
            ) from None

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = dict(logs or {})
        if self.save_best_only:
            current = self._current(logs)
            if current is None:
                return
            if not self._better(current, self.best):
                if self.verbose:
                    _say(f"Epoch {epoch + 1:05d}: {self.monitor} did not improve from {self.best:.5f}")
                return
            path = self._path(epoch, logs)
            if self.verbose:
                _say(f"Epoch {epoch + 1:05d}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, "
                     f"saving model to {shown(path)}")
            self.best, self.best_epoch = current, epoch
        else:
            path = self._path(epoch, logs)
            if self.verbose:
                _say(f"Epoch {epoch + 1:05d}: saving model to {shown(path)}")
        save_checkpoint(self.model, path, metadata={"epoch": epoch + 1, **logs})
        self.saved.append((epoch, path))


class EarlyStopping(_MonitorCallback):
    """Keras' ``EarlyStopping``: stop when ``monitor`` has not improved for ``patience`` epochs.

    Semantics of Keras 3: an epoch *improves* if it beats the best value so far by more than
    ``min_delta``; after ``patience`` epochs without one, ``model.stop_training`` is set, so
    with the best epoch ``b`` (0-based) training stops at epoch ``b + patience``. With
    ``restore_best_weights=True`` the weights of the best epoch are put back when training
    ends -- also when it ran all its epochs without stopping early (Keras 3 does this; Keras 2
    restored only after an early stop). Nothing is monitored before ``start_from_epoch``.

    Args:
        monitor: the logs entry to watch, default ``"val_loss"``.
        min_delta: smallest change that counts as an improvement.
        patience: epochs without improvement before stopping.
        verbose: 1 prints ``Epoch 00023: early stopping`` and the restore.
        mode: ``"min"``, ``"max"``, or ``"auto"`` (max for accuracy-like names, else min).
        baseline: training stops after ``patience`` epochs unless the value beats this.
        restore_best_weights: restore the best epoch's weights at the end.
        start_from_epoch: epochs of warm-up before monitoring starts.

    Attributes:
        stopped_epoch: the epoch (0-based) it stopped training at, 0 if it did not (Keras).
        best, best_epoch: the best value and its epoch (0-based).
        wait: epochs since the last improvement.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__(monitor, mode)
        if patience < 0 or start_from_epoch < 0:
            raise ValueError(f"patience and start_from_epoch must be >= 0, got {patience} and {start_from_epoch}")
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.on_train_begin()

    def on_train_begin(self, logs=None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = self._initial_best()
        self.best_epoch = 0
        self.best_weights: dict[str, torch.Tensor] | None = None

    def _snapshot(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        current = self._current(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        improved = self._better(current, self.best, self.min_delta)
        if self.restore_best_weights and (improved or self.best_weights is None):
            # Until something improves, the first monitored epoch's weights count as the best.
            self.best_weights, self.best_epoch = self._snapshot(), epoch
        self.wait += 1
        if improved:
            self.best, self.best_epoch = current, epoch
            # The count restarts only when the value also beats the baseline.
            if self.baseline is None or self._better(current, self.baseline, self.min_delta):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None) -> None:
        if self.stopped_epoch > 0 and self.verbose:
            _say(f"Epoch {self.stopped_epoch + 1:05d}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                _say(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.load_state_dict(self.best_weights)


class TerminateOnNaN(Callback):
    """Keras' ``TerminateOnNaN``: stop training cleanly once the loss is NaN or infinite.

    Keras checks every batch; :func:`aenb.training.fit` reads the loss once per epoch (one
    host synchronisation, see its docstring), so this callback stops at the end of the first
    epoch whose mean loss is not finite. Without it, ``fit`` raises ``FloatingPointError``
    with advice; with it, ``fit`` returns normally: the History keeps every epoch including
    the bad one, ``History.stopped_epoch`` says which, and so does ``self.stopped_epoch``.
    The model's weights are then those of the diverged epoch: combine with
    ``EarlyStopping(restore_best_weights=True)`` or a ``ModelCheckpoint`` to keep good ones.
    """

    def __init__(self, monitor: str = "loss", verbose: int = 1) -> None:
        self.monitor = monitor
        self.verbose = verbose
        self.stopped_epoch: int | None = None

    def on_train_begin(self, logs=None) -> None:
        self.stopped_epoch = None

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is not None and not math.isfinite(value):
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.verbose:
                _say(f"Epoch {epoch + 1:05d}: invalid {self.monitor} {value}, terminating training")


def _get_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):  # fit's GPU optimizer (CUDA graphs): change it in place
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


class ReduceLROnPlateau(_MonitorCallback):
    """Keras' ``ReduceLROnPlateau``: multiply the learning rate by ``factor`` on a plateau.

    When ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs, every
    parameter group's rate becomes ``max(lr * factor, min_lr)``; then ``cooldown`` epochs pass
    before the count starts again. The rate in use is logged as ``"lr"`` (as
    :class:`LearningRateScheduler` does). Pairs well with :class:`EarlyStopping` of a larger
    patience: the rate drops on each plateau, and training stops when that no longer helps.

    Attributes:
        reductions: ``(epoch, new_lr)`` of every reduction, epochs 0-based.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__(monitor, mode)
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor must be in (0, 1), got {factor}")
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.min_delta = abs(min_delta)
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.on_train_begin()

    def on_train_begin(self, logs=None) -> None:
        self.best = self._initial_best()
        self.wait = 0
        self.cooldown_counter = 0
        self.reductions: list[tuple[int, float]] = []

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if self.optimizer is None:
            raise RuntimeError("ReduceLROnPlateau needs fit() to hand it the optimizer")
        if logs is not None:
            logs["lr"] = _get_lr(self.optimizer)
        current = self._current(logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._better(current, self.best, self.min_delta):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = _get_lr(self.optimizer)
                if old > self.min_lr:
                    new = max(old * self.factor, self.min_lr)
                    _set_lr(self.optimizer, new)
                    self.reductions.append((epoch, new))
                    if self.verbose:
                        _say(f"Epoch {epoch + 1:05d}: ReduceLROnPlateau reducing learning rate to {new:.4g}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0
