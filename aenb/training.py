"""A Keras-like training loop: ``fit(model, x, epochs=..., batch_size=...) -> History``.

Why not a plain loop in each notebook? Because every notebook would copy it, and the
details that make it fast and safe are easy to get wrong:

* the data are whole tensors (see :mod:`aenb.data`), moved to the device once;
* the loss is accumulated *on the device* and read once per epoch -- calling
  ``loss.item()`` after every batch forces the CPU to wait for the GPU each step;
* Ctrl-C (the notebook's stop button) ends training cleanly and returns the History
  so far, marked ``interrupted``, instead of a traceback.

Callbacks follow Keras' names and semantics: ``on_train_begin``, ``on_epoch_begin``,
``on_epoch_end(epoch, logs)``, ``on_train_end``; a callback stops training by setting
``self.model.stop_training = True``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import torch
from torch import nn
from tqdm.auto import tqdm

from .data import batches
from .device import get_device

LossFn = Callable[[Any, torch.Tensor], "torch.Tensor | Mapping[str, torch.Tensor]"]


@dataclass
class History:
    """What ``fit`` returns, shaped like Keras' ``History``.

    Attributes:
        history: per-epoch metrics, e.g. ``history["loss"][-1]`` and ``history["val_loss"]``.
        epoch: the epoch indices that ran (0-based, like Keras).
        interrupted: True if training was stopped with Ctrl-C / the stop button.
        stopped_epoch: the epoch a callback stopped training at (None if it ran to the end).
        seconds: wall time of the whole ``fit`` call.
    """

    history: dict[str, list[float]] = field(default_factory=dict)
    epoch: list[int] = field(default_factory=list)
    interrupted: bool = False
    stopped_epoch: int | None = None
    seconds: float = 0.0

    def append(self, epoch: int, logs: Mapping[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __len__(self) -> int:
        return len(self.epoch)


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
    """

    def __init__(self, images: torch.Tensor, at: Iterable[int] | None = None) -> None:
        self.images = images
        self.at = None if at is None else sorted(set(int(e) for e in at))
        if self.at is not None and self.at and self.at[0] < 0:
            raise ValueError(f"snapshot epochs must be >= 0, got {self.at}")
        self.snapshots: list[tuple[int, torch.Tensor]] = []

    def _record(self, epoch: int) -> None:
        device = next(self.model.parameters()).device
        was_training = self.model.training
        self.model.eval()
        with torch.inference_mode():
            out = self.model(self.images.to(device))
        self.model.train(was_training)
        self.snapshots.append((epoch, reconstruction_of(out).float().cpu()))

    def on_train_begin(self, logs=None) -> None:
        self.snapshots = []
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
        lr = float(self.schedule(epoch, self.optimizer.param_groups[0]["lr"]))
        if not math.isfinite(lr) or lr < 0:
            raise ValueError(f"schedule returned learning rate {lr} for epoch {epoch}; expected a finite value >= 0")
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if logs is not None and self.optimizer is not None:
            logs["lr"] = self.optimizer.param_groups[0]["lr"]


def reconstruction_of(output: Any) -> torch.Tensor:
    """The reconstructed images in a model's output (VAEs return a tuple, image first)."""
    return output[0] if isinstance(output, (tuple, list)) else output


def mse_loss(output: Any, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per pixel -- the loss of the plain autoencoders."""
    return nn.functional.mse_loss(reconstruction_of(output), target)


def _as_dict(loss: "torch.Tensor | Mapping[str, torch.Tensor]") -> Mapping[str, torch.Tensor]:
    if isinstance(loss, torch.Tensor):
        return {"loss": loss}
    if "loss" not in loss:
        raise ValueError(f"a loss function returning a dict must include 'loss', got keys {list(loss)}")
    return loss


def _mean_logs(sums: dict[str, torch.Tensor], count: int, prefix: str = "") -> dict[str, float]:
    # One host synchronisation per epoch: stack, then read all values at once.
    keys = list(sums)
    values = torch.stack([sums[k] for k in keys]).div(count).tolist()
    return {prefix + k: v for k, v in zip(keys, values)}


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    loss: LossFn = mse_loss,
    batch_size: int = 1000,
    prefix: str = "",
) -> dict[str, float]:
    """Mean loss (and every other term the loss returns) over ``x`` in eval mode."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    try:
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size].to(device, non_blocking=True)
            yb = xb if y is None else y[start : start + batch_size].to(device, non_blocking=True)
            for key, value in _as_dict(loss(model(xb), yb)).items():
                sums[key] = sums.get(key, 0) + value.detach().float() * len(xb)
    finally:
        model.train(was_training)
    return _mean_logs(sums, len(x), prefix)


@torch.inference_mode()
def predict(fn: Callable[[torch.Tensor], Any], x: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
    """Apply ``fn`` (a model, ``model.encode``, ``model.decode``...) to ``x`` in batches.

    The module owning ``fn`` should be in eval mode; the result stays on ``fn``'s device.
    """
    outs = [reconstruction_of(fn(x[start : start + batch_size])) for start in range(0, len(x), batch_size)]
    return torch.cat(outs)


def fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    epochs: int,
    batch_size: int = 100,
    loss: LossFn = mse_loss,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-3,
    validation_data: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None = None,
    validation_split: float = 0.0,
    callbacks: Iterable[Callback] = (),
    input_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    verbose: bool = True,
) -> History:
    """Train ``model`` to map ``x`` to ``y`` (``y`` defaults to ``x``: an autoencoder).

    Args:
        model: any ``nn.Module``; it is moved to ``device``.
        x: inputs, e.g. ``Split.images``; moved to ``device`` once.
        y: targets (default: ``x``).
        epochs: number of passes over ``x``.
        batch_size: samples per optimizer step.
        loss: ``loss(model(xb), yb)`` returning a scalar tensor, or a dict of scalar
            tensors with a ``"loss"`` key to minimise (other keys, e.g. a VAE's ``"kl"``,
            are logged too).
        optimizer: default ``torch.optim.Adam(model.parameters(), lr=lr)``.
        validation_data: ``x_val`` or ``(x_val, y_val)``, evaluated after each epoch as
            ``val_loss`` etc.
        validation_split: alternatively, hold out this last fraction of ``x`` (before
            shuffling, as Keras does).
        callbacks: Keras-style callbacks.
        input_transform: applied to each input batch on the device, e.g. fresh noise for a
            denoising autoencoder (the target stays clean).
        generator: random generator for the shuffling order (see ``seed_everything``).
        device: default :func:`aenb.device.get_device`.
        verbose: show a progress bar over epochs with the latest losses.

    Returns:
        The :class:`History` of per-epoch losses.
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
    if validation_split and validation_data is not None:
        raise ValueError("pass either validation_data or validation_split, not both")
    if y is not None and len(y) != len(x):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    x = x.to(device)
    y = y.to(device) if y is not None else None
    if validation_split:
        n_val = int(round(len(x) * validation_split))
        x, x_val = x[: len(x) - n_val], x[len(x) - n_val :]
        if y is not None:
            y, y_val = y[: len(y) - n_val], y[len(y) - n_val :]
            validation_data = (x_val, y_val)
        else:
            validation_data = x_val
    if isinstance(validation_data, (tuple, list)):
        x_val, y_val = validation_data
    else:
        x_val, y_val = validation_data, None
    if x_val is not None:
        x_val = x_val.to(device)
        y_val = y_val.to(device) if y_val is not None else None
    if len(x) == 0:
        raise ValueError("no training samples left")
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    callbacks = list(callbacks)
    history = History()
    model.stop_training = False
    for cb in callbacks:
        cb.set_model(model)
        cb.optimizer = optimizer

    start_time = time.perf_counter()
    bar = tqdm(range(epochs), desc="epochs", unit="epoch", disable=not verbose, leave=True)
    try:
        for cb in callbacks:
            cb.on_train_begin({})
        for epoch in bar:
            for cb in callbacks:
                cb.on_epoch_begin(epoch, {})
            model.train()
            sums: dict[str, torch.Tensor] = {}
            tensors = (x,) if y is None else (x, y)
            for batch in batches(*tensors, batch_size=batch_size, shuffle=True, generator=generator):
                xb = batch[0]
                yb = xb if y is None else batch[1]
                inputs = input_transform(xb) if input_transform is not None else xb
                terms = _as_dict(loss(model(inputs), yb))
                optimizer.zero_grad(set_to_none=True)
                terms["loss"].backward()
                optimizer.step()
                for key, value in terms.items():
                    sums[key] = sums.get(key, 0) + value.detach().float() * len(xb)
            logs = _mean_logs(sums, len(x))
            if x_val is not None:
                logs.update(evaluate(model, x_val, y_val, loss=loss, batch_size=max(batch_size, 1000), prefix="val_"))
            for cb in callbacks:  # callbacks may add to logs (e.g. "lr"), as in Keras
                cb.on_epoch_end(epoch, logs)
            history.append(epoch, logs)
            if verbose:
                bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()}, refresh=False)
            if not math.isfinite(logs["loss"]):
                # Never keep training a diverged model; the History so far travels with the error.
                history.stopped_epoch = epoch
                error = FloatingPointError(
                    f"loss became {logs['loss']} in epoch {epoch}: training diverged; "
                    f"try a lower learning rate (lr={optimizer.param_groups[0]['lr']:g})"
                )
                error.history = history  # type: ignore[attr-defined]
                raise error
            if model.stop_training:
                history.stopped_epoch = epoch
                break
    except KeyboardInterrupt:
        history.interrupted = True
        model.eval()
    finally:
        bar.close()
        history.seconds = time.perf_counter() - start_time
    for cb in callbacks:
        cb.on_train_end(history.history and {k: v[-1] for k, v in history.history.items()})
    model.eval()
    return history
