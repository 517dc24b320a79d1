"""Pictures for the explorers: images checked on the way in, PNG bytes on the way out, static snapshots, and
the 2-d code scatter drawn once as palette pixels (:class:`CodeScatter`).

Both explorers send each image to the browser as PNG bytes in an ``ipywidgets.Image``, and
both draw a static Matplotlib snapshot of their state for readers without a kernel. The
helpers here do that once, from arrays: nothing is read back from a widget's HTML.
"""

from __future__ import annotations

import io
import math
from typing import Any, Sequence

import numpy as np
import torch
from IPython.display import Image as PNGImage
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image as PILImage

from ..plotting import compact_png, plot_latent_2d

#: The 28x28 images are shown this many times larger (nearest neighbour: sharp pixels).
IMAGE_SCALE = 6
#: Palette indices of the scatter marker's colours (red fill, black rim); the scatter uses the 254 before them.
MARKER_FILL, MARKER_RIM = 254, 255
MARKER_COLORS = ((230, 20, 20), (0, 0, 0))


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


def single_image(output: Any, what: str = "the image") -> np.ndarray:
    """The one image in a model's output for one input, as a float ``(H, W)`` array in [0, 1].

    Accepts ``(1, 1, H, W)``, ``(1, H, W)``, ``(H, W)`` with H, W > 1, a flat square ``(1, H * H)``
    such as MNIST's ``(1, 784)``, and a tuple whose first element is the image (e.g. a VAE's
    ``(x_hat, mu, logvar)``). Anything else -- a row of 10 numbers from a classifier, three colour
    channels -- is refused, naming ``what`` and its shape, rather than shown as a strip of pixels.
    """
    if isinstance(output, (tuple, list)):
        output = output[0]
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"expected {what} to be a tensor, got {type(output).__name__}")
    image = output.detach().float().cpu()
    while image.ndim > 2 and image.shape[0] == 1:
        image = image[0]
    if image.ndim == 2 and 1 in image.shape:  # a flat (1, N) or (N, 1) row: an image only if N is a square
        image = image.reshape(-1)
    side = math.isqrt(image.numel())
    if image.ndim == 1 and side > 1 and side * side == image.numel():
        image = image.reshape(side, side)
    if image.ndim != 2 or min(image.shape) < 2:
        raise ValueError(f"{what} has shape {tuple(output.shape)}: expected one grey image, (1, 1, H, W), (1, H, W) "
                         f"or a flat square (1, H * H), e.g. (1, 1, 28, 28) or (1, 784)")
    if not torch.isfinite(image).all():
        raise ValueError(f"{what} has {int((~torch.isfinite(image)).sum())} NaN or infinite pixels")
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
    """The figure as an ``IPython.display.Image``: what a snapshot cell shows, and what nbconvert stores --
    encoded like every notebook figure (:func:`aenb.plotting.compact_png`: a palette or grey PNG, half the bytes)."""
    return PNGImage(data=compact_png(fig), format="png")


class CodeScatter:
    """The scatter of 2-d codes as palette pixels, drawn once, and a marker pasted per event.

    The axes limits are the slider ranges, so the marker can never leave the axes. ``png(z1, z2)``
    returns the PNG of the scatter with the marker at ``(z1, z2)``.
    """

    def __init__(self, codes: np.ndarray, labels: np.ndarray | None, class_names: Sequence[str] | None,
                 ranges: Sequence[tuple[float, float]], radius: int = 6) -> None:
        fig = Figure(figsize=(5.6, 4.4), dpi=80, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        plot_latent_2d(codes, labels, class_names, ax=ax, title="codes of the data; red: current z", size=4.0)
        ax.set_xlim(ranges[0])
        ax.set_ylim(ranges[1])
        fig.canvas.draw()
        rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3]
        # Linear axes: pixel = origin + axes @ (z1, z2). Matplotlib's y grows upwards, array rows downwards.
        (x0, y0), (x1, y1), (x2, y2) = ax.transData.transform([(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)])
        height = rgb.shape[0]
        self._origin = np.array([x0, height - y0])
        self._axes = np.array([[x1 - x0, x2 - x0], [-(y1 - y0), -(y2 - y0)]])
        # 254 colours are plenty for ten classes on white; the marker gets the last two.
        quantized = PILImage.fromarray(rgb).quantize(colors=MARKER_FILL, method=PILImage.Quantize.MEDIANCUT,
                                                     dither=PILImage.Dither.NONE)
        palette = np.zeros((256, 3), dtype=np.uint8)
        used = np.array(quantized.getpalette()[: 3 * MARKER_FILL], dtype=np.uint8).reshape(-1, 3)
        palette[: len(used)] = used
        palette[[MARKER_FILL, MARKER_RIM]] = MARKER_COLORS
        self._palette = palette.tobytes()
        self._indices = np.asarray(quantized, dtype=np.uint8).copy()
        yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
        dist = np.hypot(xx, yy)
        self._disc = dist <= radius + 0.25
        self._rim = self._disc & (dist > radius - 1.75)

    def png(self, z1: float, z2: float) -> bytes:
        """PNG bytes of the scatter with the marker centred on the pixel of ``(z1, z2)``."""
        col, row = np.rint(self._origin + self._axes @ np.array([z1, z2])).astype(int)
        frame = self._indices.copy()
        r = self._disc.shape[0] // 2
        h, w = frame.shape
        top, left = row - r, col - r
        rows, cols = slice(max(top, 0), min(top + 2 * r + 1, h)), slice(max(left, 0), min(left + 2 * r + 1, w))
        stamp = (slice(rows.start - top, rows.stop - top), slice(cols.start - left, cols.stop - left))
        region = frame[rows, cols]  # a view: writing to it writes into frame
        region[self._disc[stamp]] = MARKER_FILL
        region[self._rim[stamp]] = MARKER_RIM
        return palette_png(frame, self._palette)
