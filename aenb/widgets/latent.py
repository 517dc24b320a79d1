"""The latent explorer: one slider per code dimension and the image a decoder draws from them.

A decoder turns any code ``z`` into an image, not only the codes of real images. The fastest
way to see what it has learned is to move through code space and watch the image change. Every
notebook with a decoder (02: 3-d codes; 03: a VAE; 04: a convolutional autoencoder) uses it.

Why it is built the way it is: a slider sends an event for every pixel it is dragged, so an
update must take a few milliseconds, not the ~100 ms of redrawing a Matplotlib figure. For a
2-d code the scatter of the data's codes is therefore drawn *once* into an array of pixels
(:class:`aenb.widgets.images.CodeScatter`, a 256-colour palette: a PNG three times smaller and faster to encode);
each event decodes one code, pastes a small marker onto a copy of that array with NumPy, and
sends the PNGs to ``ipywidgets.Image`` views.

Example::

    explorer = LatentExplorer(model.decode, 3, codes=test_codes, labels=test.labels,
                              class_names=test.classes, images=test.images)
    explorer             # last line of a cell: the live widget
    explorer.snapshot()  # a PNG of the same state, for readers of the stored notebook
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.axes import Axes
from scipy.special import ndtr, ndtri
from scipy.stats import norm

from ..inference import module_device, owner_module
from ..plotting import plot_latent_2d
from . import book
from .base import Explorer
from .images import (
    IMAGE_SCALE,
    CodeScatter,
    as_numpy,
    check_images,
    draw_image,
    figure_png,
    single_image,
    snapshot_figure,
    to_png,
)

#: Slider ranges taken from codes cover their 0.5th to 99.5th percentile per dimension...
CODE_PERCENTILES = (0.5, 99.5)
#: ...widened by this fraction of the span on each side.
RANGE_PADDING = 0.05
#: With ``prior="normal"`` the ranges are these quantiles of N(0, 1): the same 99 %.
PRIOR_QUANTILES = (0.005, 0.995)
#: Each slider moves in this many steps from its minimum to its maximum.
SLIDER_STEPS = 200

Ranges = Sequence[tuple[float, float]]


class LatentExplorer(Explorer):
    """Sliders for every code dimension and the image the decoder draws from them.

    Args:
        decoder: maps codes ``(1, latent_dim)`` to images ``(1, 1, H, W)`` (or ``(1, 784)``)
            in [0, 1], e.g. ``model.decode``. If it is an ``nn.Module`` or a method of one,
            that module is put in eval mode; it is always called under ``torch.inference_mode()``.
        latent_dim: number of code dimensions, one slider each.
        codes: codes of real data, ``(N, latent_dim)``: they set the slider ranges (their
            0.5th-99.5th percentiles, padded by 5 %), are drawn as a scatter for a 2-d code,
            and give the random button something to jump to.
        labels: class of each code (colours of the scatter; name of the nearest code).
        class_names: ``class_names[label]``, e.g. ``test.classes``.
        images: the images the ``codes`` came from, float ``(N, 1, H, W)`` in [0, 1] (uint8
            images are refused: pass ``images.float() / 255``). The explorer shows the image
            whose code is nearest to the current point beside the decoded one.
        ranges: explicit ``(lo, hi)`` per dimension; overrides codes and prior.
        prior: ``"normal"`` for a VAE, whose codes are meant to follow N(0, I): the ranges are
            then ``scipy.stats.norm.ppf`` of :data:`PRIOR_QUANTILES` and a "sample from prior"
            button appears. ``"none"`` (default) for a plain autoencoder.
        start: the first code shown, finite numbers (default: 0 for the prior, else the median
            of ``codes``, else the middle of the ranges); clipped into the ranges.
        device: where to decode (default: the decoder module's device, else the CPU).
        seed: seed of the random buttons, so a notebook run is repeatable.
        title: a line of text above the widget.

    The random button reads "random test image" with ``images`` (whatever the dataset: digits,
    clothes) and "random test code" without them.

    State (public, read-only; what the views show and what :meth:`snapshot` draws):
        z: the code the sliders hold. image: the last decoded image, float ``(H, W)`` in [0, 1].
        nearest: index into ``codes`` of the code nearest the drawn point (or None).
        marker: the drawn point ``(z1, z2)`` on the scatter (2-d codes with ``codes``), else None.
        text: the coordinate line under the sliders, as plain text. error: see :class:`Explorer`.

    Widgets: ``sliders`` (one ``FloatSlider`` per dimension), ``random_button`` and
    ``prior_button`` (or None), ``views`` (the ``ipywidgets.Image`` of each picture:
    ``"decoded"``, and ``"nearest"`` / ``"scatter"`` when shown), ``status`` and ``widget``
    (the top-level container, shown when the explorer is the last expression of a cell).
    """

    def __init__(
        self,
        decoder: Callable[[torch.Tensor], torch.Tensor],
        latent_dim: int,
        *,
        codes: torch.Tensor | np.ndarray | None = None,
        labels: torch.Tensor | np.ndarray | None = None,
        class_names: Sequence[str] | None = None,
        images: torch.Tensor | None = None,
        ranges: Ranges | None = None,
        prior: str = "none",
        start: torch.Tensor | Sequence[float] | None = None,
        device: torch.device | str | None = None,
        seed: int = 0,
        title: str | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(latent_dim, int) or isinstance(latent_dim, bool) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive int, got {latent_dim!r}")
        if prior not in ("none", "normal"):
            raise ValueError(f"prior must be 'none' or 'normal', got {prior!r}")
        self.decoder = decoder
        self.latent_dim = latent_dim
        self.prior = prior
        self.title = title
        self._codes, self._labels, self._images = self._check_data(codes, labels, images)
        n_classes = 0 if self._labels is None else int(self._labels.max()) + 1
        self.class_names = list(class_names) if class_names is not None else [str(c) for c in range(n_classes)]
        self.ranges = self._choose_ranges(ranges)
        self.device = self._prepare_decoder(device)
        self._rng = np.random.default_rng(seed)
        self._hold = False  # True while several sliders are set at once (one redraw at the end)
        self.image: np.ndarray = np.zeros((28, 28), dtype=np.float32)
        self.nearest: int | None = None
        self.marker: tuple[float, float] | None = None
        self.text = ""
        self._build_widgets(self._choose_start(start), title)
        self._update()  # at construction a failing decoder raises: the cell fails, as it should

    # ------------------------------------------------------------------ set-up

    def _check_data(self, codes: Any, labels: Any, images: Any
                    ) -> tuple[np.ndarray | None, np.ndarray | None, torch.Tensor | None]:
        if codes is None:
            if labels is not None or images is not None:
                raise ValueError("labels and images describe codes: pass codes=... with them")
            return None, None, None
        codes_np = as_numpy(codes).astype(np.float32)
        if codes_np.ndim != 2 or codes_np.shape[1] != self.latent_dim:
            raise ValueError(f"codes must have shape (N, {self.latent_dim}), got {codes_np.shape}")
        if len(codes_np) == 0 or not np.isfinite(codes_np).all():
            raise ValueError("codes must be a non-empty array of finite numbers")
        labels_np = None
        if labels is not None:
            labels_np = as_numpy(labels).astype(np.int64).reshape(-1)
            if len(labels_np) != len(codes_np):
                raise ValueError(f"expected one label per code: {len(codes_np)} codes, got {len(labels_np)} labels")
        if images is not None:
            images = check_images(images)
            if len(images) != len(codes_np):
                raise ValueError(f"expected one image per code: {len(codes_np)} codes, got {len(images)} images")
        return codes_np, labels_np, images

    def _choose_ranges(self, ranges: Ranges | None) -> list[tuple[float, float]]:
        if ranges is not None:
            ranges = list(ranges)
            if len(ranges) != self.latent_dim:
                raise ValueError(f"ranges must give one (lo, hi) pair per latent dimension: "
                                 f"expected {self.latent_dim}, got {len(ranges)}")
            out = []
            for i, pair in enumerate(ranges):
                lo, hi = (float(v) for v in pair)
                if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
                    raise ValueError(f"range of z{i + 1} must be finite with lo < hi, got ({lo}, {hi})")
                out.append((lo, hi))
            return out
        if self.prior == "normal":
            lo, hi = (float(norm.ppf(q)) for q in PRIOR_QUANTILES)
            return [(lo, hi)] * self.latent_dim
        if self._codes is None:
            raise ValueError("cannot choose slider ranges: pass codes=..., ranges=... or prior='normal'")
        lows, highs = np.percentile(self._codes.astype(np.float64), CODE_PERCENTILES, axis=0)
        out = []
        for lo, hi in zip(lows, highs):
            pad = RANGE_PADDING * (hi - lo) if hi > lo else 0.5  # a constant dimension still gets a slider
            out.append((float(lo - pad), float(hi + pad)))
        return out

    def _choose_start(self, start: Any) -> np.ndarray:
        if start is not None:
            z0 = as_numpy(start).astype(np.float64).reshape(-1)
            if len(z0) != self.latent_dim:
                raise ValueError(f"start must have {self.latent_dim} values, got {len(z0)}")
            if not np.isfinite(z0).all():
                raise ValueError(f"start must be finite numbers, got {z0.tolist()}")
        elif self.prior == "normal":
            z0 = np.zeros(self.latent_dim)
        elif self._codes is not None:
            z0 = np.median(self._codes, axis=0).astype(np.float64)
        else:
            z0 = np.array([(lo + hi) / 2 for lo, hi in self.ranges])
        lows, highs = np.array(self.ranges).T
        return np.clip(z0, lows, highs)

    def _prepare_decoder(self, device: torch.device | str | None) -> torch.device:
        owner = owner_module(self.decoder)
        if owner is not None:
            owner.eval()
        if device is not None:
            return torch.device(device)
        return module_device(owner) if owner is not None else torch.device("cpu")

    def _build_widgets(self, z0: np.ndarray, title: str | None) -> None:
        self.sliders: list[widgets.FloatSlider] = []
        for i, ((lo, hi), value) in enumerate(zip(self.ranges, z0)):
            slider = widgets.FloatSlider(
                value=float(value), min=lo, max=hi, step=(hi - lo) / SLIDER_STEPS,
                description=f"z{i + 1}", continuous_update=True, readout_format=".2f",
                layout=widgets.Layout(width="300px"), style={"description_width": "24px"},
            )
            slider.add_class("aenb-latent-slider")
            slider.observe(self.callback(lambda s=slider: f"moving {s.description} to {s.value:+.2f}",
                                         self._on_slider), names="value")
            self.sliders.append(slider)

        size = str(28 * IMAGE_SCALE)
        self.views = {"decoded": widgets.Image(format="png", width=size, height=size)}
        self.views["decoded"].add_class("aenb-latent-image")
        self._coords = widgets.HTML()
        self._coords.add_class("aenb-latent-coords")

        buttons = []
        auto_width = widgets.Layout(width="auto")  # the default width cuts "random test image" short
        self.random_button: widgets.Button | None = None
        self.prior_button: widgets.Button | None = None
        if self._codes is not None:
            # Only codes inside the slider ranges can be reached exactly; the others would be clamped.
            lows, highs = np.array(self.ranges).T
            self._reachable = np.flatnonzero(np.all((self._codes >= lows) & (self._codes <= highs), axis=1))
            what = "image" if self._images is not None else "code"
            self.random_button = widgets.Button(description=f"random test {what}", icon="random",
                                                disabled=len(self._reachable) == 0, layout=auto_width,
                                                tooltip=f"jump to the code of a random test {what}")
            self.random_button.add_class("aenb-latent-random")
            self.random_button.on_click(self.callback(lambda w=what: f"the 'random test {w}' button",
                                                      self.random_image))
            buttons.append(self.random_button)
        if self.prior == "normal":
            self.prior_button = widgets.Button(description="sample from prior", icon="dice", layout=auto_width,
                                               tooltip="draw z from N(0, I), restricted to the slider ranges")
            self.prior_button.add_class("aenb-latent-sample")
            self.prior_button.on_click(self.callback(lambda: "the 'sample from prior' button", self.sample_prior))
            buttons.append(self.prior_button)

        panels: list[widgets.Widget] = [
            widgets.VBox([*self.sliders, widgets.HBox(buttons), self._coords],
                         layout=widgets.Layout(margin="0 12px 0 0")),
            widgets.VBox([widgets.HTML("<b>decoder(z)</b>"), self.views["decoded"]]),
        ]
        if self._images is not None:
            self.views["nearest"] = widgets.Image(format="png", width=size, height=size)
            self.views["nearest"].add_class("aenb-latent-nearest")
            self._nearest_caption = widgets.HTML()
            panels.append(widgets.VBox([self._nearest_caption, self.views["nearest"]]))
        self._scatter: CodeScatter | None = None
        if self.latent_dim == 2 and self._codes is not None:
            names = self.class_names if self._labels is not None else None
            self._scatter = CodeScatter(self._codes, self._labels, names, self.ranges)
            self.views["scatter"] = widgets.Image(format="png")
            self.views["scatter"].add_class("aenb-latent-scatter")
            panels.append(self.views["scatter"])

        row = widgets.HBox(panels, layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"))
        children: list[widgets.Widget] = [row, self.status]
        if title:
            children.insert(0, widgets.HTML(f"<b>{title}</b>"))
        self.widget = widgets.VBox(children)
        self.widget.add_class("aenb-latent-explorer")

    # ------------------------------------------------------------------ events

    def _on_slider(self) -> None:
        if not self._hold:
            self._update()

    @property
    def z(self) -> torch.Tensor:
        """The code the sliders hold: a float32 tensor of shape ``(latent_dim,)``."""
        return torch.tensor([s.value for s in self.sliders], dtype=torch.float32)

    def set_z(self, z: torch.Tensor | Sequence[float]) -> None:
        """Move all sliders at once (values outside the ranges are clamped) and redraw once."""
        values = as_numpy(z).astype(np.float64).reshape(-1)
        if len(values) != self.latent_dim:
            raise ValueError(f"expected {self.latent_dim} values, got {len(values)}")
        if not np.isfinite(values).all():
            raise ValueError(f"z must be finite numbers, got {values.tolist()}")
        self._hold = True
        try:
            for slider, value in zip(self.sliders, values):
                slider.value = float(value)
        finally:
            self._hold = False
        self._update()

    def random_image(self) -> int:
        """Jump to the code of a random data point inside the slider ranges; returns its index."""
        if self._codes is None or len(self._reachable) == 0:
            raise RuntimeError("no codes inside the slider ranges to jump to")
        index = int(self._rng.choice(self._reachable))
        self.set_z(self._codes[index])
        return index

    def sample_prior(self) -> np.ndarray:
        """Set the sliders to a draw from N(0, I) truncated to the slider ranges; returns it."""
        lows, highs = np.array(self.ranges).T
        z = ndtri(self._rng.uniform(ndtr(lows), ndtr(highs)))  # inverse-CDF sampling: exact, no rejection loop
        self.set_z(z)
        return np.asarray(z)

    def _update(self) -> None:
        """Decode the sliders' code and refresh every view: the whole path of one slider event.

        Everything that can fail (the decoder, its output) runs before any view changes, so a
        failure leaves the views showing one consistent, older state.
        """
        z = self.z
        with torch.inference_mode():
            image = single_image(self.decoder(z[None].to(self.device)), f"the decoder's output for a code of shape "
                                 f"(1, {self.latent_dim})")
        self.image = image
        self.views["decoded"].value = to_png(image, IMAGE_SCALE)

        self.text = f"z = ({', '.join(f'{v:+.2f}' for v in z.tolist())}); |z| = {float(z.norm()):.2f}"
        if self._codes is not None:
            dist2 = ((self._codes - z.numpy()) ** 2).sum(axis=1)
            previous, self.nearest = self.nearest, int(dist2.argmin())
            which = f"class {self._class_name(self.nearest)}" if self._labels is not None else f"#{self.nearest}"
            self.text += f"; nearest data code: {which}, distance {float(np.sqrt(dist2[self.nearest])):.2f}"
            if "nearest" in self.views and self.nearest != previous:
                self.views["nearest"].value = to_png(self._images[self.nearest, 0].numpy(), IMAGE_SCALE)
                self._nearest_caption.value = "<b>nearest data image</b>" + (
                    f" ({self._class_name(self.nearest)})" if self._labels is not None else "")
        lines = "<br>".join(self.text.split("; "))
        self._coords.value = f"<div style='font-family: monospace; line-height: 1.5'>{lines}</div>"
        if self._scatter is not None:
            self.marker = (float(z[0]), float(z[1]))
            self.views["scatter"].value = self._scatter.png(*self.marker)
        self.clear_error()

    def _class_name(self, index: int) -> str:
        label = int(self._labels[index])
        return self.class_names[label] if label < len(self.class_names) else str(label)

    # ------------------------------------------------------------------ display

    def snapshot(self) -> Any:
        """A PNG (``IPython.display.Image``) of the current state, for readers without a kernel.

        A saved notebook keeps the widget's state, but GitHub and most viewers do not render
        widgets; this picture is drawn from the explorer's state (slider values, :attr:`image`,
        :attr:`nearest`, :attr:`marker`) as a new Matplotlib figure: fine once per notebook,
        too slow per slider event.
        """
        panels = [("decoder(z)", self.image)]
        if "nearest" in self.views and self.nearest is not None:
            label = f"\n({self._class_name(self.nearest)})" if self._labels is not None else ""
            caption = "nearest data image" + label
            panels.append((caption, self._images[self.nearest, 0].numpy()))
        widths = [1.3] + [1.0] * len(panels) + ([1.9] if self._scatter is not None else [])
        fig, axes = snapshot_figure(widths, height=max(3.0, 0.45 * self.latent_dim + 1.2))
        self._draw_slider_panel(axes[0])
        for ax, (caption, image) in zip(axes[1:], panels):
            draw_image(ax, image, caption)
        if self._scatter is not None:  # redrawn as vectors: sharper than the widget's bitmap
            ax = axes[-1]
            plot_latent_2d(self._codes, self._labels, self.class_names if self._labels is not None else None,
                           ax=ax, title="codes of the data; red: current z", size=3.0)
            ax.plot(*self.marker, "o", ms=9, mfc=(0.9, 0.08, 0.08), mec="black", mew=1.5, clip_on=False)
            ax.title.set_fontsize("medium")
            ax.set_xlim(self.ranges[0])
            ax.set_ylim(self.ranges[1])
        z = self.z
        title = f"Latent explorer (static snapshot): z = ({', '.join(f'{v:+.2f}' for v in z.tolist())}), " \
                f"|z| = {float(z.norm()):.2f}"
        fig.suptitle(title + (f"\n{self.error}" if self.error else ""), fontsize="medium")
        return figure_png(fig)

    def _draw_slider_panel(self, ax: Axes) -> None:
        """The sliders as drawn tracks: each one's range, its handle, and its value."""
        for i, (slider, (lo, hi)) in enumerate(zip(self.sliders, self.ranges)):
            y = -i
            fraction = (slider.value - lo) / (hi - lo)
            ax.plot([0, 1], [y, y], color="0.8", lw=5, solid_capstyle="round")
            ax.plot([fraction], [y], "o", ms=11, color="tab:blue")
            ax.annotate(f"{slider.value:+.2f}", (fraction, y), xytext=(0, 8), textcoords="offset points",
                        ha="center", va="bottom", fontsize="small")
            for x, value in ((0, lo), (1, hi)):
                ax.annotate(f"{value:.2f}", (x, y), xytext=(0, -9), textcoords="offset points", ha="center",
                            va="top", fontsize="x-small", color="0.4")
        ax.set_yticks([-i for i in range(self.latent_dim)], [f"z{i + 1}" for i in range(self.latent_dim)])
        ax.set_ylim(-self.latent_dim + 0.4, 0.7)
        ax.set_xlim(-0.1, 1.1)
        ax.set_xticks([])
        ax.tick_params(left=False)
        for side in ("top", "right", "bottom", "left"):
            ax.spines[side].set_visible(False)
        ax.set_title("sliders", fontsize="medium")

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The widget, plus the spec the static book draws live sliders from (:mod:`aenb.widgets.book`)."""
        return {**super()._repr_mimebundle_(**kwargs), book.MIMETYPE: book.book_entry(self)}

    def __repr__(self) -> str:
        d = self.latent_dim
        names = ", ".join(f"z{i + 1}" for i in range(d)) if d <= 4 else f"z1..z{d}"
        return f"LatentExplorer(sliders: {names}; prior={self.prior!r})"
