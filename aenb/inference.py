"""Running a trained model: ``predict(model.encode, x)``, ``reconstruct(model, x)``.

Inference is what the figures, the metrics, the callbacks and the widgets need, so it lives
apart from training: those modules import this one and never :mod:`aenb.training`. It also
owns the one speed switch both share, :func:`speedups`: channels-last convolution weights
(oneDNN's and cuDNN's fastest kernels: 1.4-2.1x faster inference and 1.1-1.3x faster
training epochs on the 2-core CPU) and ``cudnn.benchmark`` on a GPU, undone afterwards.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import torch
from torch import nn

from .models.common import reconstruction_of
from .validation import check_int, float_tensor


@contextmanager
def speedups(model: nn.Module, device: torch.device, enabled: bool = True) -> Iterator[None]:
    """Inside the block: conv weights channels-last and, on CUDA, ``cudnn.benchmark``; both restored after.

    Channels-last changes only how the weights are laid out in memory, not their values; the
    model gets its usual (contiguous) layout back so a checkpoint or a later ``.view`` sees
    what it expects.
    """
    benchmark = torch.backends.cudnn.benchmark
    weights = [p for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd) for p in m.parameters()]
    convert = enabled and any(p.ndim == 4 and not p.is_contiguous(memory_format=torch.channels_last)
                              for p in weights)
    if convert:
        model.to(memory_format=torch.channels_last)
    torch.backends.cudnn.benchmark = benchmark or (enabled and device.type == "cuda")
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = benchmark
        if convert:
            model.to(memory_format=torch.contiguous_format)


def module_device(module: nn.Module) -> torch.device:
    """Where ``module``'s weights are (the CPU for a module without any)."""
    return next((t.device for t in [*module.parameters(), *module.buffers()]), torch.device("cpu"))


def owner_module(fn: Any) -> nn.Module | None:
    """The module behind ``fn``: ``fn`` itself if it is one, ``model`` for a bound method such as
    ``model.decode``, else None (a plain function)."""
    owner = fn if isinstance(fn, nn.Module) else getattr(fn, "__self__", None)
    return owner if isinstance(owner, nn.Module) else None


def predict(fn: Callable[[torch.Tensor], Any], x: Any, *, batch_size: int = 1000) -> Any:
    """``fn(x)`` in batches, ``fn`` a model or a method of one (``model.encode``): each batch on the model's device,
    in eval and inference mode, conv weights channels-last (both restored after), CPU tensors back; tuples stay
    tuples (``mu, logvar``)."""
    module = owner_module(fn)
    if module is None:
        raise TypeError(f"predict expects a model or a method of one (model.encode, model.decode), got {fn!r:.60}; "
                        f"take parts of a tuple afterwards, e.g. predict(vae.encode, x)[0] for the means")
    x = float_tensor(x, "x")
    batch_size = check_int(batch_size, "batch_size", 1)
    device, was_training = module_device(module), module.training
    try:
        with speedups(module.eval(), device), torch.inference_mode():
            outs = [fn(xb.to(device)) for xb in x.split(batch_size)]
    finally:
        module.train(was_training)
    if isinstance(outs[0], (tuple, list)):
        return tuple(torch.cat([out[i].cpu() for out in outs]) for i in range(len(outs[0])))
    return torch.cat([out.cpu() for out in outs])


def reconstruct(model: nn.Module, x: Any, *, batch_size: int = 1000) -> torch.Tensor:
    """The model's reconstructions of ``x`` on the CPU (a VAE's ``x_hat``, without ``mu`` and ``logvar``)."""
    return reconstruction_of(predict(model, x, batch_size=batch_size))
