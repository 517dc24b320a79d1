"""Sliders in the notebook: :class:`LatentExplorer` walks a decoder's latent space, :class:`NoiseExplorer`
turns the noise of a denoising autoencoder up and down (notebook 05).

A decoder turns any code ``z`` into an image, not only the codes of real images. The
fastest way to understand what it has learned is to move through code space and watch
the image change: one slider per code dimension, the decoded image beside them, and for
a 2-d code a scatter of the data's codes with a marker at the current point. Every
notebook with a decoder (02: 3-d codes; 03: a VAE; 04: a convolutional autoencoder)
uses this one widget.

Why it is built the way it is: a slider sends an event for every pixel it is dragged,
so the update must take a few milliseconds, not the ~100 ms of redrawing a Matplotlib
figure. The explorer therefore draws the scatter *once* into an array of pixels (reduced
to a 256-colour palette, which makes its PNG three times smaller and faster to encode),
and on each event only decodes one code, pastes a small marker onto a copy of that array
with NumPy, and sends the PNGs to ``ipywidgets.Image`` views.

Example::

    explorer = LatentExplorer(model.decode, 3, codes=test_codes, labels=test.labels,
                              class_names=test.classes, images=test.images)
    explorer             # last line of a cell: the live widget
    explorer.snapshot()  # a PNG of the same state, for readers of the stored notebook
"""

from __future__ import annotations

import io
from typing import Any, Callable, Sequence

import ipywidgets as widgets
import numpy as np
import torch
from IPython.display import Image as PNGImage
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image as PILImage
from scipy.special import ndtr, ndtri
from scipy.stats import norm
from torch import nn

from .metrics import psnr
from .plotting import plot_latent_2d

#: Slider ranges taken from codes cover their 0.5th to 99.5th percentile per dimension...
CODE_PERCENTILES = (0.5, 99.5)
#: ...widened by this fraction of the span on each side.
RANGE_PADDING = 0.05
#: With ``prior="normal"`` the ranges are these quantiles of N(0, 1): the same 99 %.
PRIOR_QUANTILES = (0.005, 0.995)
#: Each slider moves in this many steps from its minimum to its maximum.
SLIDER_STEPS = 200
#: The 28x28 images are shown this many times larger (nearest neighbour: sharp pixels).
IMAGE_SCALE = 6

Ranges = Sequence[tuple[float, float]]


def _as_numpy(x: torch.Tensor | np.ndarray | Sequence[Any]) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _to_png(array: np.ndarray, scale: int = 1) -> bytes:
    """PNG bytes of a grey ``(H, W)`` array in [0, 1] or an RGB ``(H, W, 3)`` uint8 array.

    Upscaling repeats pixels (nearest neighbour), so digits stay crisp instead of being
    blurred by the browser. Compression level 1 is ~5x faster than PIL's default and the
    files are only slightly larger.
    """
    if array.dtype != np.uint8:
        array = np.round(np.clip(array, 0.0, 1.0) * 255).astype(np.uint8)
    if scale > 1:
        array = array.repeat(scale, axis=0).repeat(scale, axis=1)
    buf = io.BytesIO()
    PILImage.fromarray(array).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _decoded_image(output: Any) -> np.ndarray:
    """The single decoded image in a decoder's output as a float ``(H, W)`` array in [0, 1]."""
    if isinstance(output, (tuple, list)):  # e.g. (image, extras)
        output = output[0]
    image = output.detach().float().cpu()
    if image.ndim >= 1 and image.shape[0] == 1:
        image = image[0]
    if image.ndim == 3 and image.shape[0] == 1:  # (1, H, W)
        image = image[0]
    if image.ndim == 1 and image.numel() == 784:  # flat MNIST-sized output
        image = image.reshape(28, 28)
    if image.ndim != 2:
        raise ValueError(
            f"the decoder must return one single-channel image for one code, e.g. shape (1, 1, 28, 28); "
            f"got {tuple(output.shape)}"
        )
    return image.clamp(0, 1).numpy()


#: Palette indices of the marker's colours; the scatter itself uses the 254 before them.
MARKER_FILL, MARKER_RIM = 254, 255
MARKER_COLORS = ((230, 20, 20), (0, 0, 0))


def _marker_stamp(radius: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks ``(2r+1, 2r+1)`` of a disc and of its 2-pixel rim: the marker."""
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    dist = np.hypot(xx, yy)
    disc = dist <= radius + 0.25
    return disc, disc & (dist > radius - 1.75)


def _palette_png(indices: np.ndarray, palette: bytes) -> bytes:
    """PNG bytes of a palette image: ``indices`` (H, W) uint8 into ``palette`` (768 bytes of RGB)."""
    image = PILImage.fromarray(indices)
    image.putpalette(palette)  # turns the grey-level image into a palette ("P") image
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


class _Explorer:
    """What both explorers share: shown as their ``widget``, with a stable text/plain line."""

    widget: widgets.Widget

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The widget's own bundle with a text/plain line that does not depend on the weights."""
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = repr(self)
        return bundle


def _figure_png(fig: Figure) -> PNGImage:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return PNGImage(data=buf.getvalue(), format="png")


class LatentExplorer(_Explorer):
    """Sliders for every code dimension and the image the decoder draws from them.

    Args:
        decoder: maps codes ``(1, latent_dim)`` to images ``(1, 1, H, W)`` (or ``(1, 784)``)
            in [0, 1], e.g. ``model.decode``. If it is an ``nn.Module`` or a method of one,
            that module is put in eval mode; it is always called under
            ``torch.inference_mode()``.
        latent_dim: number of code dimensions, one slider each.
        codes: codes of real data, ``(N, latent_dim)``: they set the slider ranges (their
            0.5th-99.5th percentiles, padded by 5 %), are drawn as a scatter for a 2-d
            code, and give the "random test digit" button something to jump to.
        labels: class of each code (colours of the scatter; name of the nearest code).
        class_names: ``class_names[label]``, e.g. ``test.classes``.
        images: the images the ``codes`` came from, ``(N, 1, H, W)``: the explorer shows
            the image whose code is nearest to the current point beside the decoded one.
        ranges: explicit ``(lo, hi)`` per dimension; overrides codes and prior.
        prior: ``"normal"`` for a VAE, whose codes are meant to follow N(0, I): the ranges
            are then ``scipy.stats.norm.ppf`` of :data:`PRIOR_QUANTILES` and a "sample
            from prior" button appears. ``"none"`` (default) for a plain autoencoder.
        start: the first code shown (default: 0 for the prior, else the median of
            ``codes``, else the middle of the ranges); clipped into the ranges.
        device: where to decode (default: the decoder module's device, else the CPU).
        seed: seed of the random buttons, so a notebook run is repeatable.
        title: a line of text above the widget.

    Attributes:
        sliders: the ``ipywidgets.FloatSlider`` of each dimension, in order.
        image: the current decoded image, a float ``(H, W)`` NumPy array in [0, 1].
        marker: the current point ``(z1, z2)`` on the scatter (2-d codes with ``codes``),
            else None; ``marker_pixel`` is its ``(column, row)`` in :attr:`scatter_frame`.
        nearest: index into ``codes`` of the code nearest the current point (or None).
        widget: the top-level ipywidgets container, also shown when the explorer is the
            last expression of a cell.
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
        if not isinstance(latent_dim, int) or isinstance(latent_dim, bool) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive int, got {latent_dim!r}")
        if prior not in ("none", "normal"):
            raise ValueError(f"prior must be 'none' or 'normal', got {prior!r}")
        self.decoder = decoder
        self.latent_dim = latent_dim
        self.prior = prior
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
        self.marker_pixel: tuple[int, int] | None = None
        self._frame_indices: np.ndarray | None = None

        self._build_widgets(self._choose_start(start), title)
        self._update()

    # ------------------------------------------------------------------ set-up

    def _check_data(
        self, codes: Any, labels: Any, images: torch.Tensor | None
    ) -> tuple[np.ndarray | None, np.ndarray | None, torch.Tensor | None]:
        if codes is None:
            if labels is not None or images is not None:
                raise ValueError("labels and images describe codes: pass codes=... with them")
            return None, None, None
        codes_np = _as_numpy(codes).astype(np.float32)
        if codes_np.ndim != 2 or codes_np.shape[1] != self.latent_dim:
            raise ValueError(f"codes must have shape (N, {self.latent_dim}), got {codes_np.shape}")
        if len(codes_np) == 0 or not np.isfinite(codes_np).all():
            raise ValueError("codes must be a non-empty array of finite numbers")
        labels_np = None
        if labels is not None:
            labels_np = _as_numpy(labels).astype(np.int64).reshape(-1)
            if len(labels_np) != len(codes_np):
                raise ValueError(f"expected one label per code: {len(codes_np)} codes, got {len(labels_np)} labels")
        if images is not None and len(images) != len(codes_np):
            raise ValueError(f"expected one image per code: {len(codes_np)} codes, got {len(images)} images")
        return codes_np, labels_np, images

    def _choose_ranges(self, ranges: Ranges | None) -> list[tuple[float, float]]:
        if ranges is not None:
            ranges = list(ranges)
            if len(ranges) != self.latent_dim:
                raise ValueError(
                    f"ranges must give one (lo, hi) pair per latent dimension: "
                    f"expected {self.latent_dim}, got {len(ranges)}"
                )
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
            z0 = _as_numpy(start).astype(np.float64).reshape(-1)
            if len(z0) != self.latent_dim:
                raise ValueError(f"start must have {self.latent_dim} values, got {len(z0)}")
        elif self.prior == "normal":
            z0 = np.zeros(self.latent_dim)
        elif self._codes is not None:
            z0 = np.median(self._codes, axis=0).astype(np.float64)
        else:
            z0 = np.array([(lo + hi) / 2 for lo, hi in self.ranges])
        return self._clip(z0)

    def _prepare_decoder(self, device: torch.device | str | None) -> torch.device:
        owner = self.decoder if isinstance(self.decoder, nn.Module) else getattr(self.decoder, "__self__", None)
        if isinstance(owner, nn.Module):
            owner.eval()
            if device is None:
                param = next(owner.parameters(), None)
                device = param.device if param is not None else None
        return torch.device(device) if device is not None else torch.device("cpu")

    def _clip(self, z: np.ndarray) -> np.ndarray:
        lows = np.array([lo for lo, _ in self.ranges])
        highs = np.array([hi for _, hi in self.ranges])
        return np.clip(z, lows, highs)

    def _build_widgets(self, z0: np.ndarray, title: str | None) -> None:
        self.sliders: list[widgets.FloatSlider] = []
        for i, ((lo, hi), value) in enumerate(zip(self.ranges, z0)):
            slider = widgets.FloatSlider(
                value=float(value), min=lo, max=hi, step=(hi - lo) / SLIDER_STEPS,
                description=f"z{i + 1}", continuous_update=True, readout_format=".2f",
                layout=widgets.Layout(width="300px"), style={"description_width": "24px"},
            )
            slider.add_class("aenb-latent-slider")
            slider.observe(self._on_slider, names="value")
            self.sliders.append(slider)

        size = str(28 * IMAGE_SCALE)
        self._image_widget = widgets.Image(format="png", width=size, height=size)
        self._image_widget.add_class("aenb-latent-image")
        self._coords = widgets.HTML()
        self._coords.add_class("aenb-latent-coords")

        buttons = []
        auto_width = widgets.Layout(width="auto")  # the default width cuts "random test digit" short
        self.random_button: widgets.Button | None = None
        self.prior_button: widgets.Button | None = None
        if self._codes is not None:
            # Only codes inside the slider ranges can be reached exactly; the others would be clamped.
            lows, highs = np.array(self.ranges).T
            inside = np.all((self._codes >= lows) & (self._codes <= highs), axis=1)
            self._reachable = np.flatnonzero(inside)
            what = "digit" if self._images is not None else "code"
            self.random_button = widgets.Button(description=f"random test {what}", icon="random",
                                                disabled=len(self._reachable) == 0, layout=auto_width,
                                                tooltip=f"jump to the code of a random test {what}")
            self.random_button.add_class("aenb-latent-random")
            self.random_button.on_click(lambda _: self.random_digit())
            buttons.append(self.random_button)
        if self.prior == "normal":
            self.prior_button = widgets.Button(description="sample from prior", icon="dice", layout=auto_width,
                                               tooltip="draw z from N(0, I), restricted to the slider ranges")
            self.prior_button.add_class("aenb-latent-sample")
            self.prior_button.on_click(lambda _: self.sample_prior())
            buttons.append(self.prior_button)

        panels: list[widgets.Widget] = [
            widgets.VBox([*self.sliders, widgets.HBox(buttons), self._coords],
                         layout=widgets.Layout(margin="0 12px 0 0")),
            widgets.VBox([widgets.HTML("<b>decoder(z)</b>"), self._image_widget]),
        ]
        self._nearest_widget: widgets.Image | None = None
        self._nearest_caption: widgets.HTML | None = None
        if self._images is not None:
            self._nearest_widget = widgets.Image(format="png", width=size, height=size)
            self._nearest_widget.add_class("aenb-latent-nearest")
            self._nearest_caption = widgets.HTML()
            panels.append(widgets.VBox([self._nearest_caption, self._nearest_widget]))
        self._scatter_widget: widgets.Image | None = None
        if self.latent_dim == 2 and self._codes is not None:
            self._render_scatter()
            self._scatter_widget = widgets.Image(format="png")
            self._scatter_widget.add_class("aenb-latent-scatter")
            panels.append(self._scatter_widget)

        row = widgets.HBox(panels, layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"))
        children: list[widgets.Widget] = [row]
        if title:
            children.insert(0, widgets.HTML(f"<b>{title}</b>"))
        self.widget = widgets.VBox(children)
        self.widget.add_class("aenb-latent-explorer")

    def _render_scatter(self) -> None:
        """Draw the codes' scatter once; keep its pixels (as palette indices) and the data -> pixel map.

        The axes limits are the slider ranges, so the marker can never leave the axes.
        """
        fig = Figure(figsize=(5.6, 4.4), dpi=80, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        plot_latent_2d(self._codes, self._labels, self.class_names if self._labels is not None else None,
                       ax=ax, title="codes of the data; red: current z", size=4.0)
        ax.set_xlim(self.ranges[0])
        ax.set_ylim(self.ranges[1])
        fig.canvas.draw()
        rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3]
        height = rgb.shape[0]
        # Linear axes: display = origin + z1 * e1 + z2 * e2. Matplotlib's display y grows
        # upwards, array rows grow downwards.
        (x0, y0), (x1, y1), (x2, y2) = ax.transData.transform([(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)])
        self._pixel_origin = np.array([x0, height - y0])
        self._pixel_axes = np.array([[x1 - x0, x2 - x0], [-(y1 - y0), -(y2 - y0)]])
        # 254 colours are plenty for ten classes on white; the marker gets the last two.
        quantized = PILImage.fromarray(rgb).quantize(colors=MARKER_FILL, method=PILImage.Quantize.MEDIANCUT,
                                                     dither=PILImage.Dither.NONE)
        palette = np.zeros((256, 3), dtype=np.uint8)
        used = np.array(quantized.getpalette()[: 3 * MARKER_FILL], dtype=np.uint8).reshape(-1, 3)
        palette[: len(used)] = used
        palette[[MARKER_FILL, MARKER_RIM]] = MARKER_COLORS
        self._palette = palette
        self._palette_bytes = palette.tobytes()
        self._scatter_indices = np.asarray(quantized, dtype=np.uint8).copy()
        self._stamp_disc, self._stamp_rim = _marker_stamp()

    @property
    def scatter_frame(self) -> np.ndarray | None:
        """The scatter with the marker as shown, an RGB ``(H, W, 3)`` uint8 array (2-d codes only)."""
        return None if self._frame_indices is None else self._palette[self._frame_indices]

    @property
    def _scatter_base(self) -> np.ndarray:
        """The scatter without the marker, RGB (for tests and comparisons)."""
        return self._palette[self._scatter_indices]

    # ------------------------------------------------------------------ events

    def _on_slider(self, change: dict[str, Any]) -> None:
        if not self._hold:
            self._update()

    @property
    def z(self) -> torch.Tensor:
        """The current code, read from the sliders: a float32 tensor of shape ``(latent_dim,)``."""
        return torch.tensor([s.value for s in self.sliders], dtype=torch.float32)

    def set_z(self, z: torch.Tensor | Sequence[float]) -> None:
        """Move all sliders at once (values outside the ranges are clamped) and redraw once."""
        values = _as_numpy(z).astype(np.float64).reshape(-1)
        if len(values) != self.latent_dim:
            raise ValueError(f"expected {self.latent_dim} values, got {len(values)}")
        self._hold = True
        try:
            for slider, value in zip(self.sliders, values):
                slider.value = float(value)
        finally:
            self._hold = False
        self._update()

    def random_digit(self) -> int:
        """Jump to the code of a random data point inside the slider ranges; returns its index."""
        if self._codes is None or len(self._reachable) == 0:
            raise RuntimeError("no codes inside the slider ranges to jump to")
        index = int(self._rng.choice(self._reachable))
        self.set_z(self._codes[index])
        return index

    def sample_prior(self) -> np.ndarray:
        """Set the sliders to a draw from N(0, I) truncated to the slider ranges; returns it."""
        lows = np.array([lo for lo, _ in self.ranges])
        highs = np.array([hi for _, hi in self.ranges])
        # Inverse-CDF sampling of the truncated normal: exact, and fast (no rejection loop).
        z = ndtri(self._rng.uniform(ndtr(lows), ndtr(highs)))
        self.set_z(z)
        return np.asarray(z)

    def _update(self) -> None:
        """Decode the current code and refresh every view: the whole path of one slider event."""
        z = self.z
        with torch.inference_mode():
            output = self.decoder(z[None].to(self.device))
        self.image = _decoded_image(output)
        self._image_widget.value = _to_png(self.image, IMAGE_SCALE)

        text = "z = (" + ", ".join(f"{v:+.2f}" for v in z.tolist()) + f")<br>|z| = {float(z.norm()):.2f}"
        if self._codes is not None:
            dist2 = ((self._codes - z.numpy()) ** 2).sum(axis=1)
            previous, self.nearest = self.nearest, int(dist2.argmin())
            nearest_text = f"nearest data code: #{self.nearest}"
            if self._labels is not None:
                nearest_text = f"nearest data code: class {self._class_name(self.nearest)}"
            text += f"<br>{nearest_text}, distance {float(np.sqrt(dist2[self.nearest])):.2f}"
            if self._nearest_widget is not None and self.nearest != previous:
                self._nearest_widget.value = _to_png(_decoded_image(self._images[self.nearest]), IMAGE_SCALE)
                self._nearest_caption.value = "<b>nearest data image</b>" + (
                    f" ({self._class_name(self.nearest)})" if self._labels is not None else ""
                )
        self._coords.value = f"<div style='font-family: monospace; line-height: 1.5'>{text}</div>"
        self._coords_text = text.replace("<br>", "; ")

        if self._scatter_widget is not None:
            self._draw_marker(float(z[0]), float(z[1]))
            self._scatter_widget.value = _palette_png(self._frame_indices, self._palette_bytes)

    def _class_name(self, index: int) -> str:
        label = int(self._labels[index])
        return self.class_names[label] if label < len(self.class_names) else str(label)

    def _draw_marker(self, z1: float, z2: float) -> None:
        """Paste the marker onto a fresh copy of the scatter at the pixel of ``(z1, z2)``."""
        col, row = np.rint(self._pixel_origin + self._pixel_axes @ np.array([z1, z2])).astype(int)
        frame = self._scatter_indices.copy()
        r = self._stamp_disc.shape[0] // 2
        h, w = frame.shape
        top, left = row - r, col - r
        rs, cs = slice(max(top, 0), min(top + 2 * r + 1, h)), slice(max(left, 0), min(left + 2 * r + 1, w))
        ss = (slice(rs.start - top, rs.stop - top), slice(cs.start - left, cs.stop - left))
        region = frame[rs, cs]  # a view: writing to it writes into frame
        region[self._stamp_disc[ss]] = MARKER_FILL
        region[self._stamp_rim[ss]] = MARKER_RIM
        self._frame_indices = frame
        self.marker = (z1, z2)
        self.marker_pixel = (int(col), int(row))

    # ------------------------------------------------------------------ display

    def snapshot(self) -> PNGImage:
        """A PNG of the current state, for readers who see the stored notebook without a kernel.

        A saved notebook keeps the widget's state, but GitHub and most viewers do not render
        widgets; this static picture shows the same slider positions, decoded image, nearest
        data image and (2-d codes) scatter with the marker. It draws a new Matplotlib figure,
        which is fine once per notebook but would be too slow per slider event.
        """
        panels = [("decoder(z)", self.image)]
        if self._nearest_widget is not None and self.nearest is not None:
            caption = "nearest data image"
            if self._labels is not None:
                caption += f"\n({self._class_name(self.nearest)})"
            panels.append((caption, _decoded_image(self._images[self.nearest])))
        scatter = self._scatter_widget is not None
        widths = [1.3] + [1.0] * len(panels) + ([1.9] if scatter else [])
        height = max(3.0, 0.45 * self.latent_dim + 1.2)
        fig = Figure(figsize=(2.4 * sum(widths) + 0.4, height), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, len(widths), width_ratios=widths, squeeze=False)[0]
        self._draw_slider_panel(axes[0])
        for ax, (caption, image) in zip(axes[1:], panels):
            ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(caption, fontsize="medium")
            ax.set_xticks([])
            ax.set_yticks([])
        if scatter:  # redrawn as vectors: sharper than the widget's bitmap
            ax = axes[-1]
            plot_latent_2d(self._codes, self._labels, self.class_names if self._labels is not None else None,
                           ax=ax, title="codes of the data; red: current z", size=3.0)
            ax.plot(*self.marker, "o", ms=9, mfc=(0.9, 0.08, 0.08), mec="black", mew=1.5, clip_on=False)
            ax.title.set_fontsize("medium")
            ax.set_xlim(self.ranges[0])
            ax.set_ylim(self.ranges[1])
        fig.suptitle("Latent explorer (static snapshot): " + self._coords_text.split("; nearest")[0], fontsize="medium")
        return _figure_png(fig)

    def _draw_slider_panel(self, ax: Any) -> None:
        """The sliders as drawn tracks: each one's range, its handle, and its value."""
        for i, (slider, (lo, hi)) in enumerate(zip(self.sliders, self.ranges)):
            y = -i
            fraction = (slider.value - lo) / (hi - lo)
            ax.plot([0, 1], [y, y], color="0.8", lw=5, solid_capstyle="round")
            ax.plot([fraction], [y], "o", ms=11, color="tab:blue")
            ax.annotate(f"{slider.value:+.2f}", (fraction, y), xytext=(0, 8), textcoords="offset points",
                        ha="center", va="bottom", fontsize="small")
            ax.annotate(f"{lo:.2f}", (0, y), xytext=(0, -9), textcoords="offset points", ha="center", va="top",
                        fontsize="x-small", color="0.4")
            ax.annotate(f"{hi:.2f}", (1, y), xytext=(0, -9), textcoords="offset points", ha="center", va="top",
                        fontsize="x-small", color="0.4")
        ax.set_yticks([-i for i in range(self.latent_dim)], [f"z{i + 1}" for i in range(self.latent_dim)])
        ax.set_ylim(-self.latent_dim + 0.4, 0.7)
        ax.set_xlim(-0.1, 1.1)
        ax.set_xticks([])
        ax.tick_params(left=False)
        for side in ("top", "right", "bottom", "left"):
            ax.spines[side].set_visible(False)
        ax.set_title("sliders", fontsize="medium")

    def __repr__(self) -> str:
        d = self.latent_dim
        names = ", ".join(f"z{i + 1}" for i in range(d)) if d <= 4 else f"z1..z{d}"
        return f"LatentExplorer(sliders: {names}; prior={self.prior!r})"


class NoiseExplorer(_Explorer):
    """A slider on the noise factor ``f``: a test image, its noisy copy, and what denoisers make of it.

    The noise pattern of each image is drawn once (``eps ~ N(0, 1)``, seeded), and the slider
    scales it: the noisy image is ``clip(x + f * eps, 0, 1)``, exactly :func:`aenb.noise.add_noise`
    with a fixed draw, so dragging the slider shows the *same* noise growing rather than a new
    random pattern at every step. Each panel's caption gives its PSNR against the clean image.

    Args:
        images: clean images ``(N, 1, H, W)`` in [0, 1]; the button steps through them.
        denoisers: name -> model (or any callable mapping ``(1, 1, H, W)`` to the same shape),
            shown in this order after the noisy image; may be empty.
        factor: the slider's start value.
        max_factor: the slider's maximum.
        seed: seed of the noise patterns.
        title: a line of text above the widget.

    Attributes:
        factor_slider: the ``ipywidgets.FloatSlider`` of ``f``; ``index``: the image shown.
        panels: name -> the current image of each panel (``"clean"``, ``"noisy"``, denoisers),
            float ``(H, W)`` arrays in [0, 1]; ``psnr``: name -> its PSNR in dB.
    """

    def __init__(
        self,
        images: torch.Tensor,
        denoisers: dict[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
        *,
        factor: float = 0.5,
        max_factor: float = 1.0,
        seed: int = 0,
        title: str | None = None,
    ) -> None:
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 1 or len(images) == 0:
            got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"images must be a non-empty (N, 1, H, W) tensor, got {got}")
        if not 0.0 <= factor <= max_factor:
            raise ValueError(f"factor must lie in [0, max_factor={max_factor}], got {factor}")
        self.images = images.detach().float().cpu()
        self.denoisers = dict(denoisers or {})
        self._devices = {}  # where each denoiser runs, looked up once rather than per slider event
        for name, model in self.denoisers.items():
            param = next(model.parameters(), None) if isinstance(model, nn.Module) else None
            self._devices[name] = param.device if param is not None else torch.device("cpu")
            if isinstance(model, nn.Module):
                model.eval()
        generator = torch.Generator().manual_seed(seed)
        self._eps = torch.randn(self.images.shape, generator=generator)
        self.index = 0
        self.panels: dict[str, np.ndarray] = {}
        self.psnr: dict[str, float] = {}

        self.factor_slider = widgets.FloatSlider(
            value=float(factor), min=0.0, max=float(max_factor), step=0.01, description="noise f",
            continuous_update=True, readout_format=".2f", layout=widgets.Layout(width="360px"),
        )
        self.factor_slider.add_class("aenb-noise-slider")
        self.factor_slider.observe(lambda _: self._update(), names="value")
        self.next_button = widgets.Button(description="next test image", icon="step-forward",
                                          layout=widgets.Layout(width="auto"))
        self.next_button.on_click(lambda _: self.next_image())
        names = ["noisy", *self.denoisers, "clean"]
        size = str(self.images.shape[-1] * IMAGE_SCALE)
        self._views = {name: widgets.Image(format="png", width=size, height=size) for name in names}
        self._captions = {name: widgets.HTML() for name in names}
        self._views["noisy"].add_class("aenb-noise-image")
        row = widgets.HBox([widgets.VBox([self._captions[n], self._views[n]]) for n in names],
                           layout=widgets.Layout(flex_flow="row wrap"))
        children: list[widgets.Widget] = [widgets.HBox([self.factor_slider, self.next_button]), row]
        if title:
            children.insert(0, widgets.HTML(f"<b>{title}</b>"))
        self.widget = widgets.VBox(children)
        self.widget.add_class("aenb-noise-explorer")
        self._update()

    @property
    def factor(self) -> float:
        return float(self.factor_slider.value)

    def next_image(self) -> int:
        """Show the next image (with its own noise pattern); returns its index."""
        self.index = (self.index + 1) % len(self.images)
        self._update()
        return self.index

    def _update(self) -> None:
        clean = self.images[self.index : self.index + 1]
        noisy = (clean + self.factor * self._eps[self.index : self.index + 1]).clamp(0.0, 1.0)
        outputs = {"noisy": noisy}
        with torch.inference_mode():
            for name, model in self.denoisers.items():
                outputs[name] = model(noisy.to(self._devices[name])).float().cpu()
        outputs["clean"] = clean
        self.panels, self.psnr = {}, {}
        for name, image in outputs.items():
            self.panels[name] = _decoded_image(image)
            self.psnr[name] = float(psnr(image.clamp(0, 1), clean)[0])
            self._views[name].value = _to_png(self.panels[name], IMAGE_SCALE)
            detail = "" if name == "clean" else f"<br>PSNR {self.psnr[name]:.1f} dB"
            self._captions[name].value = f"<b>{name}</b>{detail}"

    def snapshot(self) -> PNGImage:
        """A PNG of the current state, for readers of the stored notebook (no kernel, no widgets)."""
        names = list(self.panels)
        fig = Figure(figsize=(2.1 * len(names), 2.6), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        for ax, name in zip(fig.subplots(1, len(names), squeeze=False)[0], names):
            ax.imshow(self.panels[name], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(name if name == "clean" else f"{name}\n{self.psnr[name]:.1f} dB", fontsize="medium")
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(f"Noise explorer (static snapshot): f = {self.factor:.2f}, test image #{self.index}",
                     fontsize="medium")
        return _figure_png(fig)

    def __repr__(self) -> str:
        return f"NoiseExplorer(f={self.factor:.2f}, denoisers={list(self.denoisers)})"
