"""A Keras-like training loop, ``history = fit(model, x, epochs=30)``, and one way to run a trained model.

``fit`` keeps what makes training fast and safe, so no notebook copies it: data on the device, losses summed
there and read once per epoch (``loss.item()`` per batch makes the CPU wait for the GPU at every step), the last
good epoch's weights back after a divergence (``on_nan``), Ctrl-C returning the History, ``speedups`` (fused Adam,
bf16, channels-last, cudnn.benchmark; CUDA graphs were dropped to keep this file short). :func:`predict` runs a
model or ``model.encode`` in eval and inference mode, in batches, with CPU tensors back; :func:`evaluate`, the
metrics and the figures are built on it. Argument checks live in :mod:`aenb.validation`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import torch
from torch import nn
from torch.nn import functional as F

from . import validation as check
from .device import get_device
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


def predict(fn: Callable[[torch.Tensor], Any], x: Any, *, batch_size: int = 1000) -> Any:
    """``fn(x)`` in batches, ``fn`` a model or a method of one (``model.encode``): each batch on the model's device,
    in eval and inference mode, conv weights channels-last (1.4-2x faster on the CPU; both restored after), CPU
    tensors back; tuples stay tuples (``mu, logvar``)."""
    module = fn if isinstance(fn, nn.Module) else getattr(fn, "__self__", None)
    if not isinstance(module, nn.Module):
        raise TypeError(f"predict expects a model or a method of one (model.encode, model.decode), got {fn!r:.60}; "
                        f"take parts of a tuple afterwards, e.g. predict(vae.encode, x)[0] for the means")
    x = check.as_tensor(x, "x")
    batch_size = check.check_int(batch_size, "batch_size", 1)
    device = next((t.device for t in [*module.parameters(), *module.buffers()]), torch.device("cpu"))
    was_training, restore = module.training, _speedups(module.eval(), device, speedups=True)
    try:
        with torch.inference_mode():
            outs = [fn(xb.to(device)) for xb in x.split(batch_size)]
    finally:
        module.train(was_training)
        restore()
    if isinstance(outs[0], (tuple, list)):
        return tuple(torch.cat([out[i].cpu() for out in outs]) for i in range(len(outs[0])))
    return torch.cat([out.cpu() for out in outs])


def reconstruct(model: nn.Module, x: Any, *, batch_size: int = 1000) -> torch.Tensor:
    """The model's reconstructions of ``x`` on the CPU (a VAE's ``x_hat``, without ``mu`` and ``logvar``)."""
    return reconstruction_of(predict(model, x, batch_size=batch_size))


def evaluate(model: nn.Module, x: Any, y: Any = None, *, loss: LossFn | str = mse_loss,
             batch_size: int = 1000) -> dict[str, float]:
    """The loss (and every other term it returns, e.g. a VAE's ``"kl"``) of ``model`` on ``x`` in eval mode."""
    loss, x = check.loss_function(loss, LOSSES), check.as_tensor(x, "x")
    y = x if y is None else check.as_tensor(y, "y")
    if len(y) != len(x):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    terms = _terms(loss(predict(model, x, batch_size=batch_size), y.cpu()))
    return {key: float(value) for key, value in terms.items()}


def _run_epoch(model: nn.Module, loss: LossFn, optimizer: torch.optim.Optimizer, x: torch.Tensor,
               y: torch.Tensor | None, batch_size: int, input_transform: Callable | None, bf16: bool,
               generator: torch.Generator | None) -> tuple[dict[str, float], int, bool]:
    """One shuffled epoch of steps: (mean of each loss term, first non-finite batch or -1, weights all finite).
    The sums stay on the device: nothing waits for the GPU until the one read at the end."""
    gen_device = x.device if generator is None else generator.device
    order = torch.randperm(len(x), generator=generator, device=gen_device).to(x.device)
    sums: dict[str, torch.Tensor] = {}
    first_bad = torch.full((), -1, dtype=torch.long, device=x.device)
    for batch, idx in enumerate(order.split(batch_size)):
        xb = x.index_select(0, idx)
        yb = xb if y is None else y.index_select(0, idx)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            terms = _terms(loss(model(xb if input_transform is None else input_transform(xb)), yb))
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimizer.step()
        for key, value in terms.items():
            sums[key] = sums.get(key, 0) + value.detach().float() * len(idx)
        first_bad = torch.where((first_bad < 0) & ~torch.isfinite(terms["loss"].detach()), batch, first_bad)
    finite = torch.stack([p.detach().isfinite().all() for p in model.parameters()]).all()
    keys = list(sums)
    values = torch.stack([sums[k] for k in keys] + [first_bad.float(), finite.float()]).tolist()  # one host sync
    return {k: v / len(order) for k, v in zip(keys, values)}, int(values[-2]), bool(values[-1])


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
    x, y, x_val, y_val, callbacks = check.check_fit_args(
        model, x, y, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, optimizers=tuple(OPTIMIZERS),
        scheduler=scheduler, validation_data=validation_data, validation_split=validation_split, callbacks=callbacks,
        input_transform=input_transform, generator=generator, on_nan=on_nan)
    model.to(device)
    check.check_output_shape(model, x, x if y is None else y, "x (the targets when y is None)" if y is None else "y")
    optimizer = _optimizer(optimizer, model, lr, device, speedups)
    scheduler = check.scheduler_for(scheduler, optimizer)
    restore = _speedups(model, device, speedups)
    bf16 = speedups and device.type == "cuda" and any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())
    x_dev, y_dev = x.to(device), None if y is None else y.to(device)
    history, (bar, handle) = History(), _progress(epochs, verbose)
    last_good = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.stop_training, start = False, time.perf_counter()
    try:
        for cb in callbacks:
            cb.model = model
            cb.on_train_begin({})
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
    except KeyboardInterrupt:
        history.interrupted = True
    finally:
        restore()
        history.seconds = time.perf_counter() - start
        _close(bar, handle, history)
    for cb in callbacks:
        cb.on_train_end({k: v[-1] for k, v in history.history.items()})
    del model.stop_training
    model.eval()
    return history


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


def _speedups(model: nn.Module, device: torch.device, speedups: bool) -> Callable[[], None]:
    """Channels-last conv weights (cuDNN's and oneDNN's fastest kernels: 1.1-1.3x faster epochs on the 2-core CPU)
    and cudnn.benchmark when ``speedups``; returns the function that undoes them."""
    benchmark = torch.backends.cudnn.benchmark
    weights = [p for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd) for p in m.parameters()]
    convert = speedups and any(p.ndim == 4 and not p.is_contiguous(memory_format=torch.channels_last)
                               for p in weights)
    if convert:
        model.to(memory_format=torch.channels_last)
    torch.backends.cudnn.benchmark = benchmark or (speedups and device.type == "cuda")

    def restore() -> None:
        torch.backends.cudnn.benchmark = benchmark
        if convert:
            model.to(memory_format=torch.contiguous_format)

    return restore


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
