"""Figures the notebooks share: image rows, learning curves, training snapshots.

Every function returns the Matplotlib ``Figure`` and gives it a title, axis labels and
row or class labels, so a figure read on its own still says what it shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torchvision.utils import make_grid

from .inference import predict

if TYPE_CHECKING:
    from .training import History


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
    scale: float = 0.9,
) -> Figure:
    """One row of images per entry of ``rows`` (label -> images), labelled on the left."""
    if not rows:
        raise ValueError("show_rows needs at least one row")
    n = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(rows), 1, figsize=(max(4.0, scale * n), scale * 1.25 * len(rows) + 0.6), squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows.items()):
        ax.imshow(image_strip(images, nrow=n), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
    if column_labels is not None:
        step = 28 + 2  # image width plus make_grid's padding
        axes[-1, 0].set_xticks([2 + step * i + 14 for i in range(len(column_labels))])
        axes[-1, 0].set_xticklabels(column_labels)
    fig.suptitle(title)
    fig.tight_layout()
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
