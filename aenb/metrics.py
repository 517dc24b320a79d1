"""Numbers the notebooks report: reconstruction error of a model and of PCA."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.decomposition import PCA
from torch import nn

from .models.common import reconstruction_of


@torch.inference_mode()
def per_image_mse(model: nn.Module, images: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
    """Mean squared error over the pixels of each image, shape ``(N,)``, on the CPU."""
    device = next(model.parameters()).device
    model.eval()
    errors = []
    for start in range(0, len(images), batch_size):
        xb = images[start : start + batch_size].to(device)
        recon = reconstruction_of(model(xb))
        errors.append((recon - xb).pow(2).flatten(1).mean(1).float().cpu())
    return torch.cat(errors)


def reconstruction_mse(model: nn.Module, images: torch.Tensor, *, batch_size: int = 1000) -> float:
    """Mean squared error per pixel over a whole set: the number our tables report."""
    return float(per_image_mse(model, images, batch_size=batch_size).mean())


def fit_pca(train_images: torch.Tensor, n_components: int, *, seed: int = 0) -> PCA:
    """scikit-learn PCA on flattened images: the linear baseline for every latent size."""
    x = train_images.detach().float().cpu().reshape(len(train_images), -1).numpy()
    return PCA(n_components=n_components, random_state=seed).fit(x)


def pca_reconstruct(pca: PCA, images: torch.Tensor) -> torch.Tensor:
    """Project onto the components and back (plain PCA: the result is not clipped to [0, 1])."""
    x = images.detach().float().cpu().reshape(len(images), -1).numpy()
    recon = pca.inverse_transform(pca.transform(x))
    return torch.from_numpy(recon.astype(np.float32)).reshape(images.shape)


def pca_mse(pca: PCA, images: torch.Tensor) -> float:
    """Mean squared error per pixel of the PCA reconstruction of ``images``."""
    recon = pca_reconstruct(pca, images)
    return float((recon - images.detach().float().cpu()).pow(2).mean())
