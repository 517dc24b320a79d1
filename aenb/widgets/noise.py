"""The noise explorer of notebook 05: a slider on the noise factor ``f``, a test image, its noisy
copy, and what each denoiser makes of it.

The noise pattern of each image is drawn once (``eps ~ N(0, 1)``, seeded) and the slider scales it:
the noisy image is ``clip(x + f * eps, 0, 1)``, exactly :func:`aenb.noise.add_noise` with a fixed
draw, so dragging the slider shows the *same* noise growing rather than a new pattern at every step.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, Callable

import ipywidgets as widgets
import numpy as np
import torch
from torch import nn

from ..metrics import psnr
from .base import Explorer
from .images import IMAGE_SCALE, check_images, draw_image, figure_png, single_image, snapshot_figure, to_png


class NoiseExplorer(Explorer):
    """A slider on the noise factor ``f`` with the noisy image and each denoiser's output.

    Args:
        images: clean images, float ``(N, 1, H, W)`` in [0, 1] (uint8 images are refused: pass
            ``images.float() / 255``); the button steps through them.
        denoisers: name -> model (or any callable mapping ``(1, 1, H, W)`` to the same shape),
            shown in this order after the noisy image; may be empty.
        factor: the slider's start value, in ``[0, max_factor]``.
        max_factor: the slider's maximum, a positive finite number.
        seed: seed of the noise patterns.
        title: a line of text above the widget.

    State (public, read-only): ``factor`` (the slider's value), ``index`` (the image shown),
    ``panels`` (name -> the current image of each panel, ``"noisy"``, the denoisers, ``"clean"``,
    float ``(H, W)`` arrays in [0, 1]), ``psnr`` (name -> its PSNR against the clean image, dB),
    ``error`` (see :class:`Explorer`).

    Widgets: ``factor_slider``, ``next_button``, ``views`` (name -> ``ipywidgets.Image``),
    ``status`` and ``widget``.
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
        super().__init__()
        self.images = check_images(images)
        if not (isinstance(max_factor, Real) and math.isfinite(max_factor) and max_factor > 0):
            raise ValueError(f"max_factor must be a positive finite number, got {max_factor!r}")
        if not (isinstance(factor, Real) and 0.0 <= factor <= max_factor):  # False for NaN too
            raise ValueError(f"factor must lie in [0, max_factor={max_factor}], got {factor!r}")
        self.denoisers = dict(denoisers or {})
        self._devices = {}  # where each denoiser runs, looked up once rather than per slider event
        for name, model in self.denoisers.items():
            param = next(model.parameters(), None) if isinstance(model, nn.Module) else None
            self._devices[name] = param.device if param is not None else torch.device("cpu")
            if isinstance(model, nn.Module):
                model.eval()
        self._eps = torch.randn(self.images.shape, generator=torch.Generator().manual_seed(seed))
        self.index = 0
        self.panels: dict[str, np.ndarray] = {}
        self.psnr: dict[str, float] = {}

        self.factor_slider = widgets.FloatSlider(
            value=float(factor), min=0.0, max=float(max_factor), step=0.01, description="noise f",
            continuous_update=True, readout_format=".2f", layout=widgets.Layout(width="360px"),
        )
        self.factor_slider.add_class("aenb-noise-slider")
        self.factor_slider.observe(self.callback(lambda: f"setting noise f to {self.factor:.2f}", self._update),
                                   names="value")
        self.next_button = widgets.Button(description="next test image", icon="step-forward",
                                          layout=widgets.Layout(width="auto"))
        self.next_button.on_click(self.callback(lambda: "the 'next test image' button", self.next_image))
        names = ["noisy", *self.denoisers, "clean"]
        size = str(self.images.shape[-1] * IMAGE_SCALE)
        self.views = {name: widgets.Image(format="png", width=size, height=size) for name in names}
        self._captions = {name: widgets.HTML() for name in names}
        self.views["noisy"].add_class("aenb-noise-image")
        row = widgets.HBox([widgets.VBox([self._captions[n], self.views[n]]) for n in names],
                           layout=widgets.Layout(flex_flow="row wrap"))
        children: list[widgets.Widget] = [widgets.HBox([self.factor_slider, self.next_button]), row, self.status]
        if title:
            children.insert(0, widgets.HTML(f"<b>{title}</b>"))
        self.widget = widgets.VBox(children)
        self.widget.add_class("aenb-noise-explorer")
        self._update()

    @property
    def factor(self) -> float:
        """The noise factor ``f`` the slider holds."""
        return float(self.factor_slider.value)

    def next_image(self) -> int:
        """Show the next image (with its own noise pattern); returns its index."""
        self.index = (self.index + 1) % len(self.images)
        self._update()
        return self.index

    def _update(self) -> None:
        """Re-noise the image, run every denoiser, then refresh the views (only if all of it worked)."""
        clean = self.images[self.index : self.index + 1]
        noisy = (clean + self.factor * self._eps[self.index : self.index + 1]).clamp(0.0, 1.0)
        panels = {"noisy": single_image(noisy)}
        with torch.inference_mode():
            for name, model in self.denoisers.items():
                try:
                    panels[name] = single_image(model(noisy.to(self._devices[name])))
                except Exception as exc:
                    raise RuntimeError(f"denoiser {name!r} on a {tuple(noisy.shape)} image: "
                                       f"{type(exc).__name__}: {exc}") from exc
        panels["clean"] = single_image(clean)
        reference = torch.from_numpy(panels["clean"])[None, None]
        self.panels = panels
        self.psnr = {name: float(psnr(torch.from_numpy(image)[None, None], reference)[0])
                     for name, image in panels.items()}
        for name, image in panels.items():
            self.views[name].value = to_png(image, IMAGE_SCALE)
            detail = "" if name == "clean" else f"<br>PSNR {self.psnr[name]:.1f} dB"
            self._captions[name].value = f"<b>{name}</b>{detail}"
        self.clear_error()

    def snapshot(self) -> Any:
        """A PNG (``IPython.display.Image``) of the current state, for readers of the stored notebook."""
        names = list(self.panels)
        fig, axes = snapshot_figure([0.875] * len(names), height=2.6)
        for ax, name in zip(axes, names):
            draw_image(ax, self.panels[name], name if name == "clean" else f"{name}\n{self.psnr[name]:.1f} dB")
        title = f"Noise explorer (static snapshot): f = {self.factor:.2f}, test image #{self.index}"
        fig.suptitle(title + (f"\n{self.error}" if self.error else ""), fontsize="medium")
        return figure_png(fig)

    def __repr__(self) -> str:
        return f"NoiseExplorer(f={self.factor:.2f}, denoisers={list(self.denoisers)})"
