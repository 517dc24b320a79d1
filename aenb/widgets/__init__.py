"""Sliders in the notebooks, as ipywidgets.

* :class:`LatentExplorer` (:mod:`aenb.widgets.latent`) walks a decoder's latent space: one slider
  per code dimension, the decoded image, the nearest data image and, for a 2-d code, the data's
  codes with a marker at the current point (notebooks 02, 03, 04).
* :class:`NoiseExplorer` (:mod:`aenb.widgets.noise`) turns the noise of a denoising autoencoder
  up and down (notebook 05).
* :mod:`aenb.widgets.images`: images checked on the way in, PNG bytes out, static snapshots;
  :mod:`aenb.widgets.base`: display, and errors of slider callbacks shown in the widget.
* :mod:`aenb.widgets.book`: what a displayed latent explorer leaves for the static book (``make book``):
  a spec of its sliders in its output, and its decoder saved as a checkpoint.

Each explorer is shown live when it is the last expression of a cell, and ``snapshot()`` draws
the same state as a PNG for readers of the stored notebook (GitHub and nbconvert show no widgets).
"""

from .latent import LatentExplorer
from .noise import NoiseExplorer

__all__ = ["LatentExplorer", "NoiseExplorer"]
