"""Pictures for the explorers: images checked on the way in, PNG bytes on the way out, static snapshots.

Both explorers send each image to the browser as PNG bytes in an ``ipywidgets.Image``, and
both draw a static Matplotlib snapshot of their state for readers without a kernel. The
helpers here do that once, from arrays: nothing is read back from a widget's HTML.
"""

from __future__ import annotations

import io
from typing import Any, Sequence

import numpy as np
import torch
from IPython.display import Image as PNGImage
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image as PILImage

#: The 28x28 images are shown this many times larger (nearest neighbour: sharp pixels).
IMAGE_SCALE = 6


def as_numpy(x: torch.Tensor | np.ndarray | Sequence[Any]) -> np.ndarray:
    """``x`` as a NumPy array (a tensor is detached and moved to the CPU first)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def check_images(images: Any, name: str = "images") -> torch.Tensor:
    """``images`` as a float ``(N, 1, H, W)`` CPU tensor in [0, 1], or a ValueError saying what to pass.

    Images of 0-255 (``uint8``, or floats above 1) are refused rather than divided by 255 here:
    the models in these notebooks were trained on [0, 1], so such images are a mistake upstream
    that a silent conversion would hide in the next cell.
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 1 or len(images) == 0:
        got = f"shape {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"{name} must be a non-empty (N, 1, H, W) tensor (e.g. test.images), got {got}")
    if not images.is_floating_point():
        raise ValueError(f"{name} must be floats in [0, 1] (e.g. test.images), got {images.dtype} values "
                         f"{int(images.min())}-{int(images.max())}: pass images.float() / 255")
    low, high = float(images.min()), float(images.max())
    if not (0.0 <= low and high <= 1.0):  # also False for NaN
        hint = ": pass images / 255" if high > 1.0 else ""
        raise ValueError(f"{name} must be floats in [0, 1] (e.g. test.images), "
                         f"got values from {low:g} to {high:g}{hint}")
    return images.detach().float().cpu()


def single_image(output: Any) -> np.ndarray:
    """The one image in a model's output for one input, as a float ``(H, W)`` array in [0, 1].

    Accepts ``(1, 1, H, W)``, ``(1, H, W)``, ``(H, W)``, a flat MNIST-sized ``(1, 784)`` and a
    tuple whose first element is the image (e.g. a VAE's ``(x_hat, mu, logvar)``).
    """
    if isinstance(output, (tuple, list)):
        output = output[0]
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"expected the model to return a tensor, got {type(output).__name__}")
    image = output.detach().float().cpu()
    while image.ndim > 2 and image.shape[0] == 1:
        image = image[0]
    if image.ndim == 2 and image.shape[0] == 1 and image.shape[1] == 784:
        image = image[0]
    if image.ndim == 1 and image.numel() == 784:
        image = image.reshape(28, 28)
    if image.ndim != 2:
        raise ValueError(f"expected one single-channel image, e.g. shape (1, 1, 28, 28); got {tuple(output.shape)}")
    if not torch.isfinite(image).all():
        raise ValueError(f"the image has {int((~torch.isfinite(image)).sum())} NaN or infinite pixels")
    return image.clamp(0, 1).numpy()


def to_png(array: np.ndarray, scale: int = 1) -> bytes:
    """PNG bytes of a grey ``(H, W)`` float array in [0, 1] (or a uint8 array), ``scale`` times larger.

    Upscaling repeats pixels (nearest neighbour), so digits stay crisp instead of being blurred
    by the browser. Compression level 1 is ~5x faster than PIL's default, for slightly larger files.
    """
    if array.dtype != np.uint8:
        array = np.round(np.clip(array, 0.0, 1.0) * 255).astype(np.uint8)
    if scale > 1:
        array = array.repeat(scale, axis=0).repeat(scale, axis=1)
    buf = io.BytesIO()
    PILImage.fromarray(array).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def palette_png(indices: np.ndarray, palette: bytes) -> bytes:
    """PNG bytes of a palette image: ``indices`` ``(H, W)`` uint8 into ``palette`` (768 bytes of RGB)."""
    image = PILImage.fromarray(indices)
    image.putpalette(palette)  # turns the grey-level image into a palette ("P") image
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def snapshot_figure(width_ratios: Sequence[float], height: float) -> tuple[Figure, list[Axes]]:
    """A Matplotlib figure with one row of axes, outside pyplot (so it is never shown twice)."""
    fig = Figure(figsize=(2.4 * sum(width_ratios) + 0.4, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(width_ratios), width_ratios=list(width_ratios), squeeze=False)[0]
    return fig, list(axes)


def draw_image(ax: Axes, image: np.ndarray, caption: str) -> None:
    """One grey image panel with its caption and no ticks."""
    ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(caption, fontsize="medium")
    ax.set_xticks([])
    ax.set_yticks([])


def figure_png(fig: Figure) -> PNGImage:
    """The figure as an ``IPython.display.Image``: what a snapshot cell shows, and what nbconvert stores."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return PNGImage(data=buf.getvalue(), format="png")
