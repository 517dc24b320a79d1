"""Argument checks for :mod:`aenb.training` and :mod:`aenb.inference`: a reader's first mistake gets a message,
not a traceback.

Kept apart from ``training.py`` so the training loop reads in one sitting. Every check runs
*before* ``fit`` touches the model, and every message says what was expected, what came and,
where there is one, the fix.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from .data import Split
from .models.common import reconstruction_of

#: The callback hooks ``fit`` calls (Keras' names).
HOOKS = ("on_train_begin", "on_epoch_begin", "on_epoch_end", "on_train_end")
SCHEDULERS = (torch.optim.lr_scheduler.LRScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)


def check_fit_options(model: Any, *, epochs: Any, batch_size: Any, lr: Any, optimizer: Any,
                      optimizers: tuple[str, ...], scheduler: Any, callbacks: Any, input_transform: Any,
                      generator: Any, on_nan: Any) -> list[Any]:
    """Every option of ``fit`` checked before the model is touched; returns the callbacks as a list."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    check_int(epochs, "epochs", 0)
    check_int(batch_size, "batch_size", 1)
    check_lr(lr)
    check_choice(on_nan, "on_nan", ("raise", "stop"))
    if isinstance(optimizer, str):
        if optimizer not in optimizers:
            raise ValueError(f"unknown optimizer {optimizer!r}: accepted strings are "
                             f"{', '.join(map(repr, optimizers))} (torch.optim.Adam / AdamW / SGD at lr), or pass "
                             f"any torch.optim optimizer, e.g. torch.optim.RMSprop(model.parameters(), lr=1e-3)")
    elif isinstance(optimizer, torch.optim.Optimizer):
        check_optimizer_params(optimizer, model)
    elif optimizer is not None:
        raise TypeError(f"optimizer must be None, {', '.join(map(repr, optimizers))} or a torch.optim.Optimizer such "
                        f"as torch.optim.Adam(model.parameters(), lr=1e-3), got {type(optimizer).__name__}")
    if scheduler is not None and not (isinstance(scheduler, SCHEDULERS) or callable(scheduler)):
        raise TypeError(f"scheduler must be a torch.optim.lr_scheduler object or a function optimizer -> scheduler, "
                        f"got {type(scheduler).__name__}")
    if input_transform is not None and not callable(input_transform):
        raise TypeError(f"input_transform must be a function of a batch, got {type(input_transform).__name__}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator (see seed_everything), got {type(generator).__name__}")
    return check_callbacks(callbacks)


def check_fit_data(x: Any, y: Any, validation_data: Any, validation_split: Any) -> tuple:
    """``fit``'s data as float tensors in [0, 1]: ``(x, y, x_val, y_val)``, ``y`` and ``y_val`` None for an
    autoencoder (targets = inputs). Validation always compares with the same kind of targets as training:
    with ``y`` given, ``validation_data`` must be the pair ``(x_val, y_val)``."""
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)) or not (
            0.0 <= validation_split < 1.0):
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}")
    if validation_split and validation_data is not None:
        raise ValueError("pass either validation_data or validation_split, not both")
    x = float_tensor(x, "x")
    y = None if y is None else float_tensor(y, "y")
    if y is not None and len(y) != len(x):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    x_val, y_val = validation_pair(validation_data)
    if y is not None and x_val is not None and y_val is None:
        # Validating against x_val itself would score a denoiser on how well it reproduces the *noisy* input:
        # val_loss (and EarlyStopping, checkpoints, ReduceLROnPlateau with it) would measure the wrong thing.
        raise ValueError("fit was given targets y (training maps x to y), but validation_data holds inputs only, "
                         "so val_loss would compare the model's output with its own inputs: pass "
                         "validation_data=(x_val, y_val), e.g. (noisy_val, clean_val) for a denoiser")
    if validation_split:
        cut = len(x) - int(round(len(x) * validation_split))
        x, x_val = x[:cut], x[cut:]
        y, y_val = (None, None) if y is None else (y[:cut], y[cut:])
        if len(x) == 0 or len(x_val) == 0:
            raise ValueError(f"validation_split={validation_split} leaves {len(x)} training and {len(x_val)} "
                             f"validation samples of {len(x) + len(x_val)}: both need at least one")
    if x_val is not None and tuple(x_val.shape[1:]) != tuple(x.shape[1:]):
        raise ValueError(f"validation images have shape {tuple(x_val.shape)} but x has {tuple(x.shape)}")
    if y_val is not None and len(y_val) != len(x_val):
        raise ValueError(f"x_val and y_val must have the same length, got {len(x_val)} and {len(y_val)}")
    for name, images in [("x", x), ("y", y), ("validation_data", x_val), ("y_val", y_val)]:
        if images is not None:
            check_pixels(images, name)
    return x, y, x_val, y_val


def scheduler_for(scheduler: Any, optimizer: torch.optim.Optimizer) -> Any:
    """``scheduler`` (or ``scheduler(optimizer)``), checked to drive *this* optimizer."""
    if scheduler is None:
        return None
    if not isinstance(scheduler, SCHEDULERS):
        scheduler = scheduler(optimizer)
        if not isinstance(scheduler, SCHEDULERS):
            raise TypeError(f"scheduler(optimizer) must return a torch.optim.lr_scheduler object, "
                            f"got {type(scheduler).__name__}")
    if scheduler.optimizer is not optimizer:
        raise ValueError("the scheduler was built on another optimizer: build it on the one passed to fit, or pass "
                         "scheduler=lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=EPOCHS)")
    return scheduler


def float_tensor(x: Any, name: str) -> torch.Tensor:
    """``x`` as a float32 tensor: a tensor, a numpy array or an :class:`aenb.data.Split` (its ``.images``)."""
    if isinstance(x, Split):
        x = x.images
    elif isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, a numpy array or an aenb.data.Split "
                        f"(what load_dataset returns), got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} has dtype {x.dtype}: expected float images in [0, 1]; "
                        f"convert with {name}.float() / 255 (load_dataset already does)")
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}): expected at least one sample")
    return x.float()  # the models are float32; a numpy float64 array would fail in the first layer


def check_pixels(x: torch.Tensor, name: str) -> None:
    """Refuse images that would train silently wrong: NaN / infinite values, or not scaled to [0, 1]."""
    bad = int((~torch.isfinite(x)).sum())
    if bad:
        first = int((~torch.isfinite(x)).flatten(1).any(1).nonzero()[0])
        raise ValueError(f"{name} holds {bad} NaN or infinite values (first in sample {first}): "
                         f"the data are broken, fix them before training")
    low, high = float(x.min()), float(x.max())
    if high > 1.0:
        raise ValueError(f"expected images scaled to [0, 1] as load_dataset returns them; got max {high} in {name}"
                         + (" — divide by 255" if high > 2 else ""))
    if low < 0.0:
        raise ValueError(f"expected images scaled to [0, 1] as load_dataset returns them; got min {low} in {name}")


def loss_function(loss: Any, losses: dict[str, Any]) -> Any:
    """A callable loss, or one of Keras' names for ``losses`` (aenb.training's)."""
    if isinstance(loss, str):
        if loss not in losses:
            raise ValueError(f"unknown loss {loss!r}: accepted strings are {', '.join(map(repr, losses))} "
                             f"(torch.nn.functional.mse_loss / binary_cross_entropy), or pass a callable "
                             f"loss(output, target) such as aenb.training.bce_loss or VAELoss('bce')")
        return losses[loss]
    if not callable(loss):
        raise TypeError(f"loss must be a callable loss(output, target) or a string, got {type(loss).__name__}")
    return loss


def check_int(value: Any, name: str, minimum: int) -> int:
    """An ``int`` (not a float, not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_lr(lr: Any) -> float:
    """A finite learning rate > 0."""
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating)) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a finite number > 0 (e.g. 1e-3), got {lr!r}")
    return float(lr)


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_callbacks(callbacks: Any) -> list[Any]:
    """A list of objects with Keras' hooks (``aenb.callbacks.Callback`` subclasses)."""
    callbacks = [callbacks] if hasattr(callbacks, "on_epoch_end") else list(callbacks)
    for cb in callbacks:
        if not all(callable(getattr(cb, hook, None)) for hook in HOOKS):
            raise TypeError(f"callbacks must be aenb.callbacks.Callback objects, got {type(cb).__name__}; "
                            f"learning-rate schedules go in fit(scheduler=...), the NaN policy in fit(on_nan=...)")
    return callbacks


def validation_pair(data: Any) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``validation_data`` as ``(x_val, y_val or None)``: images, or a pair ``(x_val, y_val)``."""
    if data is None:
        return None, None
    if isinstance(data, (tuple, list)):
        if len(data) != 2:
            raise ValueError(f"validation_data as a tuple must be (x_val, y_val), got {len(data)} items")
        return float_tensor(data[0], "validation_data[0]"), float_tensor(data[1], "validation_data[1]")
    if not isinstance(data, (torch.Tensor, np.ndarray, Split)):
        raise TypeError(f"validation_data must be images (a tensor, numpy array or Split) or a pair "
                        f"(x_val, y_val), got {type(data).__name__}")
    return float_tensor(data, "validation_data"), None


def check_optimizer_params(optimizer: torch.optim.Optimizer, model: nn.Module) -> None:
    """The optimizer must update (some of) *this* model's parameters, and nothing else."""
    ours = {id(p) for p in model.parameters()}
    theirs = [p for group in optimizer.param_groups for p in group["params"]]
    if not theirs or any(id(p) not in ours for p in theirs):
        raise ValueError("the optimizer's parameters are not this model's: build it on the model you pass to fit, "
                         "e.g. torch.optim.Adam(model.parameters(), lr=1e-3)")


def check_output_shape(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, name: str) -> None:
    """One tiny forward pass (eval mode, no gradients: BatchNorm statistics stay as they are)
    to compare the model's output with the targets before the first step; broadcasting would hide it."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            shape = reconstruction_of(model(x[:2].to(device))).shape[1:]
    finally:
        model.train(was_training)
    if tuple(shape) != tuple(targets.shape[1:]):
        raise ValueError(f"the model's output has shape (N, {', '.join(map(str, shape))}) but {name} has shape "
                         f"{tuple(targets.shape)}: pass targets shaped like the model's output")
