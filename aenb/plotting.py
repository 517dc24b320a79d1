"""Figures the notebooks share: image rows, learning curves, training snapshots.

Every function returns the Matplotlib ``Figure`` and gives it a title, axis labels and
row or class labels, so a figure read on its own still says what it shows.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torchvision.utils import make_grid

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
        h, w = 28 + 2, 28 + 2
        axes[-1, 0].set_xticks([2 + w * i + 14 for i in range(len(column_labels))])
        axes[-1, 0].set_xticklabels(column_labels)
        del h
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
