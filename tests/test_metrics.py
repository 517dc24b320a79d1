"""Reconstruction error and the PCA baseline on real images."""

from __future__ import annotations

import pytest
import torch

from aenb.metrics import fit_pca, pca_mse, pca_reconstruct, per_image_mse, reconstruction_mse
from aenb.models import MLPAutoencoder


def test_per_image_mse_matches_a_direct_computation(mnist_test_small) -> None:
    torch.manual_seed(0)
    model = MLPAutoencoder((784, 16, 3)).eval()
    x = mnist_test_small.images[:300]
    errors = per_image_mse(model, x, batch_size=128)  # batches of uneven size on purpose
    with torch.no_grad():
        direct = (model(x) - x).pow(2).mean(dim=(1, 2, 3))
    assert errors.shape == (300,)
    assert torch.allclose(errors, direct, atol=1e-7)
    assert reconstruction_mse(model, x) == pytest.approx(float(direct.mean()), rel=1e-5)


def test_pca_error_falls_with_more_components(mnist_train_small, mnist_test_small) -> None:
    errors = [pca_mse(fit_pca(mnist_train_small.images, k), mnist_test_small.images) for k in (2, 10, 50)]
    assert errors[0] > errors[1] > errors[2] > 0
    # predicting the mean image is worse than any of them
    mean = mnist_train_small.images.mean(0, keepdim=True)
    assert float((mnist_test_small.images - mean).pow(2).mean()) > errors[0]
    recon = pca_reconstruct(fit_pca(mnist_train_small.images, 3), mnist_test_small.images[:5])
    assert recon.shape == (5, 1, 28, 28) and recon.dtype == torch.float32
