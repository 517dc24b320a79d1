"""The autoencoders of the series, one file per family.

Every model has ``encode(x) -> z``, ``decode(z) -> x_hat`` and ``forward(x)``, takes images
of shape ``(N, 1, 28, 28)`` with values in ``[0, 1]``, and keeps the arguments it was built
with in ``self.config`` so a checkpoint can rebuild it (see :mod:`aenb.checkpoints`).

* :mod:`aenb.models.mlp` -- fully-connected autoencoders (notebooks 01, 02)
* :mod:`aenb.models.conv` -- convolutional autoencoders: the Keras-style original and a faster BatchNorm one (notebook 04)
* :mod:`aenb.models.vae` -- variational autoencoders, the KL divergence, ELBO losses (notebook 03)
* :mod:`aenb.models.denoising` -- convolutional denoising autoencoders, the original's and a faster one (notebook 05)
* :mod:`aenb.models.common` -- the image shape and the input checks all of them share
"""

from .common import IMAGE_SHAPE, check_codes, check_images, reconstruction_of
from .conv import ConvAutoencoder, FastConvAutoencoder
from .denoising import FastDenoiser, OriginalDenoiser
from .mlp import MLPAutoencoder
from .vae import VAE

__all__ = [
    "ConvAutoencoder", "FastConvAutoencoder", "FastDenoiser", "IMAGE_SHAPE", "MLPAutoencoder", "OriginalDenoiser", "VAE",
    "check_codes", "check_images", "reconstruction_of",
]
