"""Figures the notebooks share: image rows, learning curves, training snapshots.

Every function returns the Matplotlib ``Figure`` and gives it a title, axis labels and
row or class labels, so a figure read on its own still says what it shows.

Pictures of images are laid out in PNG pixels (:func:`pixel_figure`, :func:`add_pixel_axes`):
each image pixel becomes a sharp ``scale`` x ``scale`` square (nearest neighbour), which is
both what a reader wants to see and what keeps the stored notebooks small.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from torchvision.utils import make_grid

from .inference import predict

if TYPE_CHECKING:
    from .training import History


#: PNG pixels per inch of every figure: what the notebooks store (see aenb.notebook.setup).
FIGURE_DPI = 100
#: Image figures show each image pixel as a PIXEL_SCALE x PIXEL_SCALE square of PNG pixels.
PIXEL_SCALE = 2
#: The most a palette may change a colour channel (of 255) in :func:`compact_png`.
PALETTE_TOLERANCE = 24


def pixel_figure(width: float, height: float) -> Figure:
    """A pyplot figure of ``width`` x ``height`` PNG pixels (at :data:`FIGURE_DPI`).

    Its margins need not be exact: the notebooks save figures cropped (or grown) to what is drawn.
    """
    return plt.figure(figsize=(width / FIGURE_DPI, height / FIGURE_DPI), dpi=FIGURE_DPI)


def add_pixel_axes(fig: Figure, left: float, top: float, width: float, height: float) -> Axes:
    """Axes placed in PNG pixels, measured from the figure's top-left corner.

    An image drawn into axes of exactly ``scale`` times its size lands pixel for pixel
    (:func:`draw_pixels`), where a layout engine would resample it by some fraction.
    """
    fig_width, fig_height = fig.get_size_inches() * fig.dpi
    return fig.add_axes((left / fig_width, 1 - (top + height) / fig_height, width / fig_width, height / fig_height))


def draw_pixels(ax: Axes, image: np.ndarray | torch.Tensor, *, cmap: str = "gray", vmin: float = 0.0,
                vmax: float = 1.0) -> AxesImage:
    """``image`` (H, W) in ``ax`` with nearest-neighbour pixels and no ticks."""
    shown = ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    return shown


def image_grid(nrows: int, ncols: int, image_shape: tuple[int, int], *, scale: int = PIXEL_SCALE,
               gap: tuple[float, float] = (12, 12)) -> tuple[Figure, np.ndarray]:
    """A figure of ``nrows`` x ``ncols`` axes, each exactly ``scale`` times ``image_shape`` (H, W) in pixels.

    ``gap`` is the (horizontal, vertical) space between axes in pixels: room for per-axes titles
    or x labels. Returns the figure and a ``(nrows, ncols)`` array of axes, as ``plt.subplots`` does.
    """
    height, width = image_shape[0] * scale, image_shape[1] * scale
    margin, top = 40, 70  # around the grid, and above it for the axes' titles and the figure's title
    fig = pixel_figure(2 * margin + ncols * width + (ncols - 1) * gap[0],
                       top + margin + nrows * height + (nrows - 1) * gap[1])
    axes = np.array([[add_pixel_axes(fig, margin + c * (width + gap[0]), top + r * (height + gap[1]), width, height)
                      for c in range(ncols)] for r in range(nrows)])
    return fig, axes


def compact_png(fig: Figure) -> bytes | None:
    """The figure as the notebooks store it: a PNG at the figure's own dpi, cropped to what is drawn,
    in as few bytes per pixel as its colours allow (None for an empty figure, as IPython does).

    A figure with nothing but greys (images of digits, black text) is stored as a grey-scale PNG,
    exactly. Otherwise a palette PNG, a third to a half of matplotlib's RGBA PNG of the same pixels:
    line plots have fewer than 256 colours and come through exactly; a figure with more (colour
    maps, blended scatter points) gets 256 that cover them all (Pillow's "max coverage", no
    dithering). Should any pixel then be off by more than :data:`PALETTE_TOLERANCE`, the figure
    is stored as a plain RGB PNG instead, so that no colour a reader compares (a legend's) shifts.
    """
    from IPython.core.pylabtools import print_figure
    from PIL import Image

    png = print_figure(fig, "png", bbox_inches="tight")
    if png is None:
        return None
    rgb = Image.open(io.BytesIO(png)).convert("RGB")
    pixels = np.asarray(rgb, dtype=np.int16)
    if (pixels == pixels[..., :1]).all():  # grey only: one channel, whose values PNG's filters predict well
        compact = rgb.convert("L")
    else:
        compact = rgb.quantize(256, method=Image.Quantize.MAXCOVERAGE, dither=Image.Dither.NONE)
        if np.abs(np.asarray(compact.convert("RGB"), dtype=np.int16) - pixels).max() > PALETTE_TOLERANCE:
            compact = rgb
    buffer = io.BytesIO()
    compact.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _text_width(fig: Figure, text: str, fontsize: str | float) -> float:
    """The width in pixels of ``text`` drawn in ``fig`` at ``fontsize``."""
    probe = fig.text(0, 0, text, fontsize=fontsize)
    width = probe.get_window_extent(fig.canvas.get_renderer()).width
    probe.remove()
    return width


def image_strip(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """Tile ``(N, 1, H, W)`` images into one grey-scale array with ``torchvision.utils.make_grid``."""
    images = images.detach().float().cpu()
    if images.ndim == 2 and images.shape[1] == 784:
        images = images.reshape(-1, 1, 28, 28)
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(images.shape)}")
    grid = make_grid(images.clamp(0, 1), nrow=nrow or len(images), padding=padding, pad_value=1.0)
    return grid[0].numpy()


def show_rows(
    rows: Mapping[str, torch.Tensor],
    title: str,
    *,
    column_labels: Sequence[str] | None = None,
    scale: int = PIXEL_SCALE,
) -> Figure:
    """One row of images per entry of ``rows`` (label -> images), labelled on the left.

    Each image pixel is drawn as a ``scale`` x ``scale`` square. Columns are spaced apart
    (white padding) just enough for the widest of ``column_labels``, shown under the last row.
    """
    if not rows:
        raise ValueError("show_rows needs at least one row")
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale is PNG pixels per image pixel, a positive integer; got {scale!r}")
    n = max(len(v) for v in rows.values())
    fig = pixel_figure(800, 600)  # resized below, once the strips' size is known
    padding = 2  # make_grid's white border around each image
    if column_labels is not None:
        widest = max(_text_width(fig, label, "small") for label in column_labels)
        padding = max(padding, math.ceil((widest + 6) / scale) - 28)
    strips = {label: image_strip(images, nrow=n, padding=padding) for label, images in rows.items()}
    strip_height, strip_width = max(s.shape[0] for s in strips.values()), max(s.shape[1] for s in strips.values())
    height, width = strip_height * scale, strip_width * scale
    margin, row_gap = 40, 4
    fig.set_size_inches((2 * margin + width) / FIGURE_DPI, (2 * margin + len(rows) * (height + row_gap)) / FIGURE_DPI)
    axes = []
    for i, (label, strip) in enumerate(strips.items()):
        ax = add_pixel_axes(fig, margin, margin + i * (height + row_gap), width, height)
        draw_pixels(ax, strip)
        ax.set_xlim(-0.5, strip_width - 0.5)  # a shorter row keeps the pixel size, with white space on the right
        ax.set_ylim(strip_height - 0.5, -0.5)
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
        axes.append(ax)
    if column_labels is not None:
        step = 28 + padding  # image width plus the padding between images
        axes[-1].set_xticks([padding + step * i + 13.5 for i in range(len(column_labels))], column_labels,
                            fontsize="small")
        axes[-1].tick_params(axis="x", length=0)
    fig.suptitle(title, x=(margin + width / 2) / (2 * margin + width), y=1 - (margin - 6) / fig.dpi
                 / fig.get_figheight(), va="bottom")
    return fig


def plot_history(
    history: History,
    title: str,
    *,
    keys: Sequence[str] = ("loss", "val_loss"),
    ylabel: str = "loss",
    logy: bool = False,
    mark_best: str | None = None,
    ax: plt.Axes | None = None,
) -> Figure:
    """Learning curves: one line per key of ``history`` (epochs numbered from 1)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.6))
    else:
        fig = ax.figure
    for key in keys:
        if key in history.history:
            values = history.history[key]
            ax.plot(range(1, len(values) + 1), values, marker="." if len(values) < 30 else None, label=key)
    if mark_best and mark_best in history.history:
        values = history.history[mark_best]
        best = int(np.argmin(values))
        ax.axvline(best + 1, color="grey", ls="--", lw=1)
        ax.plot(best + 1, values[best], "k*", ms=10, label=f"best {mark_best} (epoch {best + 1})")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_snapshots(snapshots: Sequence[tuple[int, torch.Tensor]], originals: torch.Tensor, title: str) -> Figure:
    """The inputs on top, then one row of reconstructions per recorded epoch."""
    rows = {"input": originals}
    rows.update({f"epoch {epoch}": images for epoch, images in snapshots})
    return show_rows(rows, title)


def _label_colors(n: int) -> list[tuple[float, float, float]]:
    """One colour per class: seaborn's ``tab10`` palette (cycled beyond ten classes)."""
    import seaborn as sns

    return list(sns.color_palette("tab10", n))


def _class_groups(
    labels: torch.Tensor | np.ndarray | None, class_names: Sequence[str] | None, n: int
) -> list[tuple[str, np.ndarray]]:
    """``(name, boolean mask)`` per class present in ``labels``; one unnamed group without labels."""
    if labels is None:
        return [("codes", np.ones(n, dtype=bool))]
    labels = np.asarray(labels.detach().cpu() if isinstance(labels, torch.Tensor) else labels).reshape(-1)
    if len(labels) != n:
        raise ValueError(f"expected one label per code: {n} codes, got {len(labels)} labels")
    present = sorted(int(v) for v in np.unique(labels))
    names = list(class_names) if class_names is not None else [str(v) for v in range(max(present) + 1)]
    return [(names[v] if v < len(names) else str(v), labels == v) for v in present]


def _codes_array(codes: torch.Tensor | np.ndarray, dims: int) -> np.ndarray:
    codes = np.asarray(codes.detach().float().cpu() if isinstance(codes, torch.Tensor) else codes, dtype=float)
    if codes.ndim != 2 or codes.shape[1] < dims:
        raise ValueError(f"expected codes of shape (N, {dims}) or wider, got {codes.shape}")
    return codes


def plot_latent_2d(
    codes: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    *,
    title: str = "Codes of the test set",
    dims: tuple[int, int] = (0, 1),
    ax: plt.Axes | None = None,
    size: float = 3.0,
    legend_title: str = "class",
) -> Figure:
    """Scatter two code dimensions, one colour per class, with a legend of class names.

    Pass ``ax`` to draw into an existing axes (e.g. of a Figure that is not managed by
    pyplot, as :class:`aenb.widgets.LatentExplorer` does).
    """
    codes = _codes_array(codes, max(dims) + 1)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 4.6))
    else:
        fig = ax.figure
    groups = _class_groups(labels, class_names, len(codes))
    for (name, mask), color in zip(groups, _label_colors(len(groups))):
        ax.scatter(codes[mask, dims[0]], codes[mask, dims[1]], s=size, color=color, alpha=0.6,
                   linewidths=0, label=name, rasterized=True)
    ax.set_xlabel(f"z{dims[0] + 1}")
    ax.set_ylabel(f"z{dims[1] + 1}")
    ax.set_title(title)
    if labels is not None:
        ax.legend(title=legend_title, loc="center left", bbox_to_anchor=(1.0, 0.5),
                  markerscale=8 / max(size, 1) ** 0.5, fontsize="small", frameon=False)
    return fig


def plot_latent_3d(
    codes: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    *,
    title: str = "Codes of the test set",
    views: Sequence[tuple[float, float]] = ((25, -60), (25, 30), (80, -90)),
    size: float = 2.0,
    legend_title: str = "class",
) -> Figure:
    """A 3-d scatter of codes seen from several angles, one colour per class.

    ``views`` lists ``(elevation, azimuth)`` pairs in degrees, one subplot each (see
    ``Axes3D.view_init``). The axes are made with ``fig.add_subplot(projection="3d")``;
    the older ``Axes3D(fig)`` idiom draws an empty figure on Matplotlib >= 3.6 (3.4 and 3.5
    only warned), because such axes are no longer added to the figure automatically.
    """
    codes = _codes_array(codes, 3)
    groups = _class_groups(labels, class_names, len(codes))
    colors = _label_colors(len(groups))
    fig = plt.figure(figsize=(4.6 * len(views) + 1.2, 4.8))
    for k, (elev, azim) in enumerate(views):
        ax = fig.add_subplot(1, len(views), k + 1, projection="3d")
        for (name, mask), color in zip(groups, colors):
            ax.scatter(codes[mask, 0], codes[mask, 1], codes[mask, 2], s=size, color=color, alpha=0.5,
                       linewidths=0, label=name, depthshade=False, rasterized=True)
        ax.view_init(elev=elev, azim=azim)
        ax.set_xlabel("z1")
        ax.set_ylabel("z2")
        ax.set_zlabel("z3")
        ax.set_title(f"elevation {elev:g}°, azimuth {azim:g}°", fontsize="medium")
    if labels is not None:
        handles, names = fig.axes[0].get_legend_handles_labels()
        fig.legend(handles, names, title=legend_title, loc="center right", markerscale=4,
                   fontsize="small", frameon=False)
    fig.suptitle(title)
    fig.subplots_adjust(left=0.01, right=1 - 1.0 / fig.get_figwidth(), wspace=0.05)
    return fig


def decode_grid(model: torch.nn.Module, z1_values: Sequence[float], z2_values: Sequence[float]) -> np.ndarray:
    """Decode every point of a 2-d grid of codes and tile the images into one array.

    Columns follow ``z1_values`` left to right; rows follow ``z2_values`` from the *top*
    down in reverse, so the largest ``z2`` is at the top and the picture reads like a
    scatter plot of the codes. Returns a ``(28 * len(z2_values), 28 * len(z1_values))`` array.
    """
    grid = torch.tensor([[a, b] for b in list(z2_values)[::-1] for a in z1_values], dtype=torch.float32)
    images = predict(model.decode, grid).float()
    return make_grid(images, nrow=len(z1_values), padding=0)[0].numpy()
