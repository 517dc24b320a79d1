"""Reconstruction error and the PCA baseline on real images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aenb.metrics import fit_pca, knn_accuracy, ood_auc, pca_mse, pca_reconstruct, per_image_mse, reconstruction_mse
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


def test_ood_auc_is_a_probability_of_ranking(mnist_test_small) -> None:
    rng = np.random.default_rng(0)
    inside, outside = rng.normal(0, 1, 400), rng.normal(1, 1, 300)
    # AUC = P(out > in): count it directly over all pairs.
    direct = float((outside[:, None] > inside[None, :]).mean())
    assert ood_auc(inside, outside) == pytest.approx(direct, abs=1e-9)
    assert ood_auc(inside, inside + 100) == 1.0
    assert ood_auc(inside + 100, inside) == 0.0
    with pytest.raises(ValueError, match="scores of both kinds"):
        ood_auc(inside, [])


def test_ood_auc_of_a_digit_autoencoder_on_real_images(mnist_train_small, mnist_test_small) -> None:
    """PCA fitted on digits reconstructs clothes worse: its error separates the two test sets."""
    from aenb.data import load_dataset

    fashion = load_dataset("fashion-mnist", "test", limit=500)
    pca = fit_pca(mnist_train_small.images, 10)
    err = lambda images: (pca_reconstruct(pca, images) - images).pow(2).mean(dim=(1, 2, 3))  # noqa: E731
    assert ood_auc(err(mnist_test_small.images[:500]), err(fashion.images)) > 0.8


def test_knn_accuracy_on_real_digits(mnist_train_small, mnist_test_small) -> None:
    x_train, y_train = mnist_train_small.images, mnist_train_small.labels
    x_test, y_test = mnist_test_small.images[:300], mnist_test_small.labels[:300]
    pixels = knn_accuracy(x_train, y_train, x_test, y_test, k=5)
    assert 0.8 < pixels <= 1.0  # 2,000 training digits suffice for ~90 %
    shuffled = knn_accuracy(x_train, y_train[torch.randperm(len(y_train), generator=torch.Generator().manual_seed(0))],
                            x_test, y_test, k=5)
    assert shuffled < 0.3  # labels that do not match the images: about chance (10 %)
    with pytest.raises(ValueError, match="same size"):
        knn_accuracy(x_train, y_train, x_test[:, :, :27], y_test)
    with pytest.raises(ValueError, match="one label per sample"):
        knn_accuracy(x_train, y_train[:10], x_test, y_test)
