"""aenb: the support package of the autoencoder notebook series.

One concept per module, so a reader can jump from a notebook straight to the code:

* :mod:`aenb.data` -- MNIST / Fashion-MNIST as tensors, mini-batches
* :mod:`aenb.models` -- the autoencoders
* :mod:`aenb.training` -- ``fit``, callbacks, ``History``
* :mod:`aenb.metrics` -- reconstruction error, PCA baseline
* :mod:`aenb.plotting` -- shared figures
* :mod:`aenb.checkpoints` -- safe save / load
* :mod:`aenb.device` -- device choice and seeding
* :mod:`aenb.paths` / :mod:`aenb.results` -- where outputs go, results JSON, README table
"""

__version__ = "0.1.0"
