"""aenb: the support package of the autoencoder notebook series.

One concept per module, so a reader can jump from a notebook straight to the code:

* :mod:`aenb.notebook` -- ``setup`` / ``finish``: the first and last cell of every notebook
* :mod:`aenb.data` -- MNIST / Fashion-MNIST as tensors; the first image of each class
* :mod:`aenb.models` -- the autoencoders, one file per family (below); ``from aenb.models import VAE``
* :mod:`aenb.models.common` -- image shape and the input checks every model shares
* :mod:`aenb.models.mlp` -- fully-connected autoencoders (notebooks 01, 02)
* :mod:`aenb.models.conv` -- convolutional autoencoders (notebook 04)
* :mod:`aenb.models.vae` -- variational autoencoders, KL divergence, ELBO losses (notebook 03)
* :mod:`aenb.models.denoising` -- convolutional denoisers (notebook 05)
* :mod:`aenb.inference` -- ``predict``, ``reconstruct``: running a trained model (figures, metrics, widgets use it)
* :mod:`aenb.training` -- ``fit``, ``History``, ``evaluate``, the losses
* :mod:`aenb.validation` -- the argument checks ``fit`` / ``evaluate`` / ``predict`` run before touching the model
* :mod:`aenb.callbacks` -- Keras' ``ModelCheckpoint``, ``EarlyStopping``; ``ReconstructionSnapshots``
* :mod:`aenb.noise` -- the denoising notebook's noise, and ``fit``'s fresh-noise input transform
* :mod:`aenb.metrics` -- reconstruction error, the PCA baseline, a VAE's -ELBO, PSNR, SSIM, OOD AUC, k-NN accuracy
* :mod:`aenb.summary` -- a Keras-format model summary; multiply-adds per image
* :mod:`aenb.plotting` -- shared figures
* :mod:`aenb.widgets` -- ``LatentExplorer`` (``latent``), ``NoiseExplorer`` (``noise``), ``base``, PNGs (``images``)
* :mod:`aenb.exercises` -- ``check_<name>(answer)``, one file per notebook's exercises; solutions in ``solutions/``
* :mod:`aenb.pretrained` -- notebook 01's model for later notebooks (its checkpoint, or its recipe re-run);
  notebook 05's original denoiser: its published weights and the recipe that made them
* :mod:`aenb.checkpoints` -- safe save / load (``weights_only=True``)
* :mod:`aenb.results` -- the notebooks' results JSON files
* :mod:`aenb.device` -- device choice and seeding
* :mod:`aenb.paths` -- the mode, where outputs go, atomic writes

The README's tables are built from the results files by ``tools/readme_tables.py``, outside the package.
"""

__version__ = "0.1.0"
