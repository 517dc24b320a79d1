"""``summary(model)``: a model summary in the format of Keras' ``model.summary()``; ``multiply_adds(model)``.

Readers coming from Keras look for this table: one row per layer with its output shape and
parameter count, then the totals. PyTorch has no built-in equivalent (``print(model)`` lists
the modules but neither shapes nor counts), so we run one dummy batch through the model and
record, with forward hooks on the *leaf* modules (those without children), what each layer
outputs. Rows come in the order the layers ran; the batch dimension is shown as ``None``,
as in Keras, and shapes are PyTorch's channels-first ``(None, C, H, W)``.

Parameters are PyTorch parameters: buffers such as BatchNorm's running mean and variance are
not counted (Keras lists them as non-trainable weights).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn


def _shape(output: Any) -> str:
    if isinstance(output, torch.Tensor):
        return str(("None", *output.shape[1:])).replace("'None'", "None")
    if isinstance(output, (tuple, list)):
        return "[" + ", ".join(_shape(o) for o in output) + "]"
    return type(output).__name__


def _size(n_bytes: int) -> str:
    """Memory of the parameters, as Keras prints it: ``410.89 KB``."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.2f} {unit}"
    return f"{n_bytes} B"


def _table(rows: list[tuple[str, str, str]], widths: Sequence[int]) -> list[str]:
    return ["".join(f" {cell:<{w - 1}}" for cell, w in zip(row, widths)).rstrip() for row in rows]


def _run_with_leaf_hooks(model: nn.Module, input_size: Sequence[int], hook: Any) -> None:
    """Run zeros of ``input_size`` through ``model`` (eval mode, no gradients) with ``hook`` on every leaf module."""
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    x = torch.zeros(*input_size, device=device, dtype=dtype)
    leaves = [m for m in model.modules() if next(m.children(), None) is None and m is not model]
    handles = [m.register_forward_hook(hook) for m in leaves]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)


def summary(model: nn.Module, input_size: Sequence[int] = (1, 1, 28, 28), *, name: str | None = None) -> str:
    """The Keras-style summary of ``model`` as text (``print`` it).

    Args:
        model: any ``nn.Module``; it is run once, in eval mode and without gradients, on
            zeros of shape ``input_size`` placed on the model's device and dtype.
        input_size: the dummy batch's shape, batch dimension first.
        name: the model's name in the header (default: its class name).

    Example::

        >>> print(summary(ConvAutoencoder(latent_dim=2)))       # doctest: +SKIP
        Model: "ConvAutoencoder"
        _________________________________________________________________
         Layer (type)                Output Shape              Param #
        =================================================================
         input (InputLayer)           (None, 1, 28, 28)         0
         encoder.0 (Conv2dSame)       (None, 8, 14, 14)         80
         ...
    """
    names = {module: qualname for qualname, module in model.named_modules()}
    rows: list[tuple[str, str, str]] = [("input (InputLayer)", str(("None", *input_size[1:])).replace("'None'", "None"),
                                         "0")]

    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        count = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append((f"{names[module]} ({type(module).__name__})", _shape(output), f"{count:,}"))

    _run_with_leaf_hooks(model, input_size, hook)

    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    header = ("Layer (type)", "Output Shape", "Param #")
    widths = [max(29, max(len(r[0]) for r in rows) + 2), max(26, max(len(r[1]) for r in rows) + 2), 10]
    width = sum(widths)
    lines = [f'Model: "{name or type(model).__name__}"', "_" * width, *_table([header], widths), "=" * width]
    lines += [*_table(rows, widths), "=" * width]
    sizes = [(p.numel() * p.element_size(), p.requires_grad) for p in model.parameters()]
    total_bytes = sum(b for b, _ in sizes)
    trainable_bytes = sum(b for b, t in sizes if t)
    lines += [
        f"Total params: {total:,} ({_size(total_bytes)})",
        f"Trainable params: {trainable:,} ({_size(trainable_bytes)})",
        f"Non-trainable params: {total - trainable:,} ({_size(total_bytes - trainable_bytes)})",
        "_" * width,
    ]
    return "\n".join(lines)


def multiply_adds(model: nn.Module, input_size: Sequence[int] = (1, 1, 28, 28)) -> int:
    """Multiply-adds of one forward pass per sample, counted over convolutions and Dense layers.

    A convolution costs (output pixels) x (output channels) x (input channels / groups) x
    (kernel height x width); a transposed convolution the same per *input* pixel; a Dense layer
    in x out. Activations, pooling and normalisation are left out: they are cheap in arithmetic
    (though not always in memory traffic, which this number does not see). Training costs
    about three times the forward pass (forward, and two products in the backward pass).
    """
    total = 0

    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        nonlocal total
        if isinstance(module, nn.ConvTranspose2d):
            x = inputs[0]
            total += x[0].numel() * module.out_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        elif isinstance(module, nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1]
            total += output[0].numel() * module.in_channels // module.groups * kernel
        elif isinstance(module, nn.Linear):
            total += output[0].numel() * module.in_features

    _run_with_leaf_hooks(model, (1, *input_size[1:]), hook)
    return total
