"""A Keras-like training loop: ``history = fit(model, x, epochs=30)``, the losses, ``evaluate``.

``fit`` is the loop every tutorial teaches -- for each batch: forward, loss, zero_grad, backward,
step -- plus what makes it fast and safe, so no notebook copies it: data on the device, losses
summed there and read once per epoch (``loss.item()`` per batch makes the CPU wait for the GPU at
every step), the last good epoch's weights back after a divergence (``on_nan``), Ctrl-C returning
the History, ``speedups`` (channels-last; on CUDA fused Adam, bf16, cudnn.benchmark). One context
manager, :func:`_training_session`, owns everything set up around the loop and undoes it on every
exit. Argument checks live in :mod:`aenb.validation`; running a trained model in :mod:`aenb.inference`.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

import torch
from torch import nn
from torch.nn import functional as F

from . import validation as check
from .device import get_device
from .inference import predict
from .inference import speedups as speedups_on
from .models.common import binary_cross_entropy, reconstruction_of

if TYPE_CHECKING:
    from .callbacks import Callback

LossFn = Callable[[Any, torch.Tensor], "torch.Tensor | Mapping[str, torch.Tensor]"]


@dataclass
class History:
    """What ``fit`` returns, shaped like Keras' ``History``: ``history["loss"][-1]``, ``len(history)``."""

    history: dict[str, list[float]] = field(default_factory=dict)  # "loss", "val_loss", "lr" (with a scheduler)...
    epoch: list[int] = field(default_factory=list)  # the epochs that ran, 0-based like Keras
    interrupted: bool = False  # stopped with Ctrl-C / the notebook's stop button
    stopped_epoch: int | None = None  # where a callback or the NaN guard stopped training
    seconds: float = 0.0  # wall time of the fit call

    def append(self, epoch: int, logs: Mapping[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __len__(self) -> int:
        return len(self.epoch)

    def __add__(self, other: History) -> History:
        """This run, then ``other`` (training continued): epochs renumbered, a key missing on one side is NaN."""
        n = len(self)
        keys = dict.fromkeys([*self.history, *other.history])
        return History({k: self.history.get(k, [math.nan] * n) + other.history.get(k, [math.nan] * len(other))
                        for k in keys}, self.epoch + [n + e for e in other.epoch], other.interrupted,
                       None if other.stopped_epoch is None else n + other.stopped_epoch, self.seconds + other.seconds)

    concat = __add__


def mse_loss(output: Any, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per pixel -- the loss of the plain autoencoders (Keras' ``"mse"``)."""
    return F.mse_loss(reconstruction_of(output), target)


def bce_loss(output: Any, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy per pixel, for outputs in [0, 1] (Keras' ``"binary_crossentropy"``): with a sigmoid
    output its gradient is ``x_hat - x``, which never vanishes as the MSE's does when the sigmoid saturates."""
    return binary_cross_entropy(reconstruction_of(output), target)


LOSSES: dict[str, LossFn] = {"mse": mse_loss, "mean_squared_error": mse_loss, "binary_crossentropy": bce_loss,
                             "bce": bce_loss}
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


def _terms(value: torch.Tensor | Mapping[str, torch.Tensor]) -> Mapping[str, torch.Tensor]:
    """A loss returns a tensor, or a dict of tensors whose ``"loss"`` is minimised (the others are logged)."""
    if isinstance(value, torch.Tensor):
        return {"loss": value}
    if not isinstance(value, Mapping) or "loss" not in value:
        raise ValueError(f"a loss must return a tensor or a dict with a 'loss' key, got {value!r:.80}")
    return value


def evaluate(model: nn.Module, x: Any, y: Any = None, *, loss: LossFn | str = mse_loss,
             batch_size: int = 1000) -> dict[str, float]:
    """The loss (and every other term it returns, e.g. a VAE's ``"kl"``) of ``model`` on ``x`` in eval mode."""
    loss, x = check.loss_function(loss, LOSSES), check.float_tensor(x, "x")
    y = x if y is None else check.float_tensor(y, "y")
    if len(y) != len(x):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    terms = _terms(loss(predict(model, x, batch_size=batch_size), y.cpu()))
    return {key: float(value) for key, value in terms.items()}


class _EpochTally:
    """An epoch's bookkeeping, kept on the device: each loss term summed over the samples, the first batch whose
    loss was not finite. :meth:`read` is the epoch's one host sync (nothing waits for the GPU before it)."""

    def __init__(self, device: torch.device) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.samples = 0
        self.first_bad = torch.full((), -1, dtype=torch.long, device=device)

    def add(self, batch: int, terms: Mapping[str, torch.Tensor], n: int) -> None:
        for key, value in terms.items():
            self.sums[key] = self.sums.get(key, 0) + value.detach().float() * n
        self.samples += n
        bad = ~torch.isfinite(terms["loss"].detach())
        self.first_bad = torch.where((self.first_bad < 0) & bad, batch, self.first_bad)

    def read(self, model: nn.Module) -> tuple[dict[str, float], int, bool]:
        """(mean of each loss term, first non-finite batch or -1, whether the weights are all finite)."""
        finite = torch.stack([p.detach().isfinite().all() for p in model.parameters()]).all()
        keys = list(self.sums)
        values = torch.stack([self.sums[k] for k in keys] + [self.first_bad.float(), finite.float()]).tolist()
        return {k: v / self.samples for k, v in zip(keys, values)}, int(values[-2]), bool(values[-1])


def _run_epoch(model: nn.Module, loss: LossFn, optimizer: torch.optim.Optimizer, x: torch.Tensor,
               y: torch.Tensor | None, batch_size: int, input_transform: Callable | None, bf16: bool,
               generator: torch.Generator | None) -> tuple[dict[str, float], int, bool]:
    """One pass over ``x`` in shuffled batches, the textbook five steps each; returns :meth:`_EpochTally.read`."""
    gen_device = x.device if generator is None else generator.device
    order = torch.randperm(len(x), generator=generator, device=gen_device).to(x.device)
    tally = _EpochTally(x.device)
    for batch, idx in enumerate(order.split(batch_size)):
        xb = x.index_select(0, idx)
        yb = xb if y is None else y.index_select(0, idx)  # an autoencoder's target is its input
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            output = model(xb if input_transform is None else input_transform(xb))  # 1. forward
            terms = _terms(loss(output, yb))                                          # 2. loss
        optimizer.zero_grad(set_to_none=True)                                        # 3. zero the gradients
        terms["loss"].backward()                                                     # 4. backward
        optimizer.step()                                                             # 5. step
        tally.add(batch, terms, len(idx))
    return tally.read(model)


def _progress(epochs: int, verbose: bool) -> tuple[Any, Any]:
    """(tqdm bar, display handle). Jupyter saves a live bar as "0%| 0/30", so in a notebook the bar is shown
    through a display handle, which the summary line replaces when fit returns (in saved notebooks too)."""
    from tqdm.auto import tqdm
    from tqdm.notebook import tqdm as notebook_tqdm

    if not verbose or not issubclass(tqdm, notebook_tqdm):
        return tqdm(total=epochs, desc="epochs", unit="epoch", disable=not verbose), None
    from IPython.display import display

    bar = tqdm(total=epochs, desc="epochs", unit="epoch", display=False)
    return bar, display(bar.container, display_id=True)


def _close(bar: Any, handle: Any, history: History) -> None:
    """Print "30 epochs in 89.5 s (2.98 s/epoch) - loss 0.0333 - val_loss 0.0335", or put it in the bar's place."""
    shown = not bar.disable  # before close(), which disables the bar
    bar.close()
    n, stop = len(history), history.stopped_epoch
    line = " - ".join([f"{n} epochs in {history.seconds:.1f} s ({history.seconds / max(n, 1):.2f} s/epoch)",
                       *(f"{k} {v[-1]:.4g}" for k, v in history.history.items() if k != "lr"),
                       *(["interrupted"] * history.interrupted), *([f"stopped at epoch {stop}"] * (stop is not None))])
    if handle is not None:
        from IPython.display import Pretty

        handle.update(Pretty(line))
    elif shown:
        print(line)


def fit(model: nn.Module, x: Any, y: Any = None, *, epochs: int, batch_size: int = 100, loss: LossFn | str = mse_loss,
        optimizer: torch.optim.Optimizer | str | None = None, lr: float = 1e-3, scheduler: Any = None,
        validation_data: Any = None, validation_split: float = 0.0, callbacks: Iterable[Callback] = (),
        input_transform: Callable[[torch.Tensor], torch.Tensor] | None = None, generator: torch.Generator | None = None,
        device: torch.device | str | None = None, verbose: bool = True, on_nan: str = "raise",
        speedups: bool = True) -> History:
    """Train ``model`` to map ``x`` to ``y`` (default ``y = x``: an autoencoder); returns the :class:`History`.

    * ``x``, ``y``, ``validation_data`` (``x_val`` or ``(x_val, y_val)``): images in [0, 1] as tensors, numpy arrays
      or ``Split``s; or ``validation_split``, the last fraction of ``x`` held out (before shuffling, as in Keras).
    * ``loss(model(xb), yb)`` returns a scalar, or a dict whose ``"loss"`` is minimised (the rest is logged); or
      Keras' ``"mse"`` / ``"binary_crossentropy"``. ``optimizer``: None (Adam at ``lr``), ``"adam"``, ``"adamw"``,
      ``"sgd"``, or one over this model's parameters.
    * ``scheduler``: a ``torch.optim.lr_scheduler`` on that optimizer, or ``lambda opt: CosineAnnealingLR(opt, 30)``
      when fit builds it; stepped after each epoch (``ReduceLROnPlateau`` with ``val_loss``, else ``loss``); each
      epoch's rate is logged as ``"lr"``. ``input_transform``: applied to each input batch (e.g. fresh noise).
    * ``on_nan="raise"``: a FloatingPointError naming batch and epoch, with ``.history``; ``"stop"``: a printed line.
      Either way the model holds the last good epoch's weights, and callbacks never see the diverged epoch.
    * ``speedups``: channels-last conv weights; on CUDA also fused Adam, bf16 autocast for conv models and
      cudnn.benchmark; undone when fit returns. The model comes back in eval mode, on ``device``.
    """
    loss = check.loss_function(loss, LOSSES)
    device = get_device(device)
    callbacks = check.check_fit_options(
        model, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, optimizers=tuple(OPTIMIZERS),
        scheduler=scheduler, callbacks=callbacks, input_transform=input_transform, generator=generator, on_nan=on_nan)
    x, y, x_val, y_val = check.check_fit_data(x, y, validation_data, validation_split)
    model.to(device)
    check.check_output_shape(model, x, x if y is None else y, "x (the targets when y is None)" if y is None else "y")
    optimizer = _optimizer(optimizer, model, lr, device, speedups)
    scheduler = check.scheduler_for(scheduler, optimizer)
    bf16 = speedups and device.type == "cuda" and any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())
    x_dev, y_dev = x.to(device), None if y is None else y.to(device)
    last_good = {k: v.detach().clone() for k, v in model.state_dict().items()}
    with _training_session(model, callbacks, epochs, device, speedups, verbose) as (history, bar):
        for epoch in range(epochs):
            for cb in callbacks:
                cb.on_epoch_begin(epoch, {})
            lr_now = float(optimizer.param_groups[0]["lr"])
            model.train()
            logs, first_bad, weights_ok = _run_epoch(model, loss, optimizer, x_dev, y_dev, batch_size,
                                                     input_transform, bf16, generator)
            if first_bad >= 0 or not weights_ok or not math.isfinite(logs["loss"]):
                history.append(epoch, logs)
                _diverged(model, last_good, history, epoch, first_bad, logs["loss"], lr_now, on_nan)
                break
            for key, value in model.state_dict().items():
                last_good[key].copy_(value)
            if x_val is not None:
                val = evaluate(model, x_val, y_val, loss=loss, batch_size=max(batch_size, 1000))
                logs.update({"val_" + key: value for key, value in val.items()})
            if scheduler is not None:
                logs["lr"] = lr_now
                _step(scheduler, logs)
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            history.append(epoch, logs)
            bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()}, refresh=False)
            bar.update(1)
            if model.stop_training:
                history.stopped_epoch = epoch
                break
    return history


@contextmanager
def _training_session(model: nn.Module, callbacks: list[Callback], epochs: int, device: torch.device,
                      speedups: bool, verbose: bool) -> Iterator[tuple[History, Any]]:
    """Everything around ``fit``'s epoch loop, set up on entry and undone on *every* exit -- the loop ending,
    a callback stopping it, a divergence (raised or not), Ctrl-C (swallowed: the History so far is returned):
    speed-ups off, the summary line in the progress bar's place, each callback's ``on_train_end`` (so
    ``EarlyStopping(restore_best_weights=True)`` restores after a divergence too), the model in eval mode."""
    history, (bar, handle) = History(), _progress(epochs, verbose)
    model.stop_training, start = False, time.perf_counter()  # Keras' flag, which callbacks set
    try:
        with speedups_on(model, device, speedups):
            for cb in callbacks:
                cb.model = model
                cb.on_train_begin({})
            yield history, bar
    except KeyboardInterrupt:
        history.interrupted = True
    finally:
        history.seconds = time.perf_counter() - start
        _close(bar, handle, history)
        try:
            for cb in callbacks:
                cb.on_train_end({k: v[-1] for k, v in history.history.items()})
        finally:
            del model.stop_training
            model.eval()


def _optimizer(optimizer: Any, model: nn.Module, lr: float, device: torch.device, speedups: bool) -> Any:
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    name = optimizer or "adam"
    if device.type == "cuda" and speedups and name != "sgd":
        return OPTIMIZERS[name](model.parameters(), lr=lr, fused=True)  # one kernel for the whole update
    # Not fused on the CPU: the fused kernel was 1.2x faster per epoch for the 784-400-20 VAE, but its rounding
    # moved notebook 01's 30-epoch test MSE from 0.0333 to 0.0352 -- more than the 2% a speed-up may change.
    return OPTIMIZERS[name](model.parameters(), lr=lr)


def _step(scheduler: Any, logs: Mapping[str, float]) -> None:
    """After an epoch: ``ReduceLROnPlateau`` watches ``val_loss`` (else ``loss``); the others count epochs."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(logs.get("val_loss", logs["loss"]))
    else:
        scheduler.step()


def _diverged(model: nn.Module, last_good: dict[str, torch.Tensor], history: History, epoch: int, first_bad: int,
              loss: float, lr: float, on_nan: str) -> None:
    """Put the last good weights back; then raise (``on_nan="raise"``) or say so (``"stop"``)."""
    model.load_state_dict(last_good)
    history.stopped_epoch = epoch
    where = f"first non-finite at batch {first_bad} of epoch {epoch}" if first_bad >= 0 else f"in epoch {epoch}"
    kept = f"the end of epoch {epoch - 1}, the last good one" if epoch else "before training"
    message = (f"loss became {loss:g} ({where}): training diverged; try a lower learning rate (lr={lr:g}). "
               f"The model holds the weights from {kept}")
    if on_nan == "stop":
        print(f"stopped: {message}.")
        return
    error = FloatingPointError(f"{message}; the History so far is in this error's .history.")
    error.history = history  # type: ignore[attr-defined]
    raise error
