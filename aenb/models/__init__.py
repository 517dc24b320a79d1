"""The autoencoders of the series, one file per family.

Every model has ``encode(x) -> z``, ``decode(z) -> x_hat`` and ``forward(x)``, takes images
of shape ``(N, 1, 28, 28)`` with values in ``[0, 1]``, and keeps the arguments it was built
with in ``self.config`` so a checkpoint can rebuild it (see :mod:`aenb.checkpoints`).

* :mod:`aenb.models.mlp` -- fully-connected autoencoders (notebooks 01, 02)
* :mod:`aenb.models.conv` -- convolutional autoencoders, upsampling or transposed-convolution decoders (notebook 04)
* :mod:`aenb.models.vae` -- variational autoencoders, the KL divergence, ELBO losses (notebook 03)
* :mod:`aenb.models.denoising` -- convolutional denoising autoencoders, the seed's and a faster one (notebook 05)
"""

from .common import IMAGE_SHAPE, check_codes, check_images, reconstruction_of
from .conv import ConvAutoencoder
from .denoising import FastDenoiser, SeedDenoiser
from .mlp import MLPAutoencoder
from .vae import VAE

__all__ = [
    "ConvAutoencoder", "FastDenoiser", "IMAGE_SHAPE", "MLPAutoencoder", "SeedDenoiser", "VAE", "check_codes",
    "check_images", "reconstruction_of",
]
