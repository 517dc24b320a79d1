"""A Keras-like training loop: ``fit(model, x, epochs=..., batch_size=...) -> History``.

Why not a plain loop in each notebook? Because every notebook would copy it, and the
details that make it fast and safe are easy to get wrong:

* the data are whole tensors (see :mod:`aenb.data`), moved to the device once;
* the loss is accumulated *on the device* and read once per epoch -- calling
  ``loss.item()`` after every batch forces the CPU to wait for the GPU each step;
* Ctrl-C (the notebook's stop button) ends training cleanly and returns the History
  so far, marked ``interrupted``, instead of a traceback.

Callbacks (:mod:`aenb.callbacks`) follow Keras' names and semantics.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import torch
from torch import nn
from tqdm.auto import tqdm

from .callbacks import Callback, TerminateOnNaN
from .device import get_device
from .models.common import reconstruction_of
from .steps import EagerSteps, GraphedSteps, LossFn, as_loss_dict


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


def mse_loss(output: Any, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per pixel -- the loss of the plain autoencoders."""
    return nn.functional.mse_loss(reconstruction_of(output), target)


def bce_loss(output: Any, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy per pixel, for models whose outputs are probabilities in [0, 1].

    The denoising autoencoders of notebook 05 train with it, as the seed does: with a sigmoid
    output its gradient on the sigmoid's input is ``x_hat - x``, which never vanishes the way
    the MSE's does when the sigmoid saturates (notebook 04's frozen model).
    """
    return nn.functional.binary_cross_entropy(reconstruction_of(output), target)


def _terminated_on_nan(model: nn.Module, callbacks: list[Callback]) -> bool:
    """True if a TerminateOnNaN callback asked for a clean stop (then ``fit`` does not raise)."""
    return bool(model.stop_training) and any(
        isinstance(cb, TerminateOnNaN) and cb.stopped_epoch is not None for cb in callbacks
    )


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
            for key, value in as_loss_dict(loss(model(xb), yb)).items():
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


def _permutation(n: int, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
    """This epoch's order of the samples, drawn with ``generator`` (on its device)."""
    gen_device = generator.device if generator is not None else device
    return torch.randperm(n, generator=generator, device=gen_device).to(device)


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
    cuda_graphs: bool | None = None,
    precision: str = "auto",
    cpu_threads: int | None = None,
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
        optimizer: default Adam with learning rate ``lr`` (on a GPU fused, one kernel for
            the whole update, and capturable for CUDA graphs).
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
        cuda_graphs: replay each training step as a CUDA graph (see :mod:`aenb.steps`).
            Default: on for CUDA when ``fit`` creates the optimizer itself.
        precision: ``"fp32"``, ``"bf16"`` (autocast) or ``"auto"``: bf16 for convolutional
            models on CUDA, fp32 otherwise. Evaluation always runs in fp32. Convolutional
            models are also switched to the channels-last memory layout (on every device).
        cpu_threads: intra-op threads while training on the CPU (default: PyTorch's, one
            per core). Set it to 1 when other programs keep the cores busy: we measured
            an MLP epoch ten times slower with two threads than with one on an overloaded
            2-core machine, and 1.2-1.6 times faster with two on an idle one.

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
    if isinstance(validation_data, (tuple, list)):
        x_val, y_val = validation_data
    else:
        x_val, y_val = validation_data, None
    if validation_split:
        cut = len(x) - int(round(len(x) * validation_split))
        x, x_val = x[:cut], x[cut:]
        if y is not None:
            y, y_val = y[:cut], y[cut:]
    if x_val is not None:
        x_val = x_val.to(device)
        y_val = y_val.to(device) if y_val is not None else None
    if len(x) == 0:
        raise ValueError("no training samples left")
    has_conv = any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())
    if cuda_graphs is None:
        cuda_graphs = device.type == "cuda" and optimizer is None
    if cuda_graphs and device.type != "cuda":
        raise ValueError(f"cuda_graphs=True needs a CUDA device, got {device}")
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', got {precision!r}")
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda" and has_conv)
    if has_conv:
        # Channels-last ("NHWC") weights let cuDNN and oneDNN pick their fastest convolution kernels:
        # on the 2-core CPU an epoch of notebook 04's model took 1.3x less time, notebook 05's
        # 1.1x (our denoiser) to 1.3x (the seed's). Single-channel images need no conversion.
        model.to(memory_format=torch.channels_last)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
    if optimizer is None:
        if device.type == "cuda":
            # fused: one kernel for the whole update; capturable + tensor lr: graph-safe, and a
            # LearningRateScheduler can still change the rate between replays.
            optimizer = torch.optim.Adam(model.parameters(), lr=torch.tensor(lr, device=device),
                                         fused=True, capturable=bool(cuda_graphs))
        else:
            # Not fused on the CPU: the fused kernel was 1.2x faster per epoch for the 784-400-20
            # VAE, but its different rounding moved notebook 01's 30-epoch test MSE from 0.0333
            # to 0.0352 -- more than the 2% an acceleration may change a result here.
            optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps_cls = GraphedSteps if cuda_graphs else EagerSteps
    steps = steps_cls(model, loss, optimizer, x, y, batch_size=batch_size, input_transform=input_transform,
                      autocast_dtype=torch.bfloat16 if use_bf16 else None)
    callbacks = list(callbacks)
    history = History()
    model.stop_training = False
    for cb in callbacks:
        cb.set_model(model)
        cb.optimizer = optimizer
    threads_before = torch.get_num_threads()
    if device.type == "cpu" and cpu_threads is not None:
        torch.set_num_threads(cpu_threads)

    # The weights at the end of the last epoch with a finite loss: restored if training diverges.
    last_good = {k: v.detach().clone() for k, v in model.state_dict().items()}
    start_time = time.perf_counter()
    bar = tqdm(range(epochs), desc="epochs", unit="epoch", disable=not verbose, leave=True)
    try:
        for cb in callbacks:
            cb.on_train_begin({})
        for epoch in bar:
            for cb in callbacks:
                cb.on_epoch_begin(epoch, {})
            model.train()
            steps.reset()
            steps.run_epoch(_permutation(len(x), device, generator))
            sums, first_bad = steps.read()
            logs = {key: value / len(x) for key, value in sums.items()}
            if x_val is not None:
                logs.update(evaluate(model, x_val, y_val, loss=loss, batch_size=max(batch_size, 1000), prefix="val_"))
            for cb in callbacks:  # callbacks may add to logs (e.g. "lr"), as in Keras
                cb.on_epoch_end(epoch, logs)
            history.append(epoch, logs)
            if verbose:
                bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()}, refresh=False)
            if math.isfinite(logs["loss"]):
                for key, value in model.state_dict().items():
                    last_good[key].copy_(value)
            elif not _terminated_on_nan(model, callbacks):
                # Never keep training a diverged model: put back the last good weights, and
                # let the History so far travel with the error.
                model.load_state_dict(last_good)
                history.stopped_epoch = epoch
                where = f"batch {first_bad} of epoch {epoch}" if first_bad >= 0 else f"epoch {epoch}"
                error = FloatingPointError(
                    f"loss became {logs['loss']} (first non-finite at {where}): training diverged; "
                    f"try a lower learning rate (lr={float(optimizer.param_groups[0]['lr']):g}). "
                    f"The model holds the weights from the end of the last good epoch; "
                    f"the History so far is in this error's .history."
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
        torch.set_num_threads(threads_before)
        history.seconds = time.perf_counter() - start_time
    for cb in callbacks:
        cb.on_train_end(history.history and {k: v[-1] for k, v in history.history.items()})
    model.eval()
    return history
