"""Numbers the notebooks report: reconstruction error (model and PCA), a VAE's -ELBO, PSNR and SSIM, OOD AUC,
kNN accuracy, and the pixel reader (``PixelReader``) that names what a decoder drew."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.decomposition import PCA
from torch import nn

from .inference import predict, reconstruct
from .models.vae import VAE, VAELoss, reparameterize
from .validation import float_tensor


def per_image_mse(model: nn.Module, images: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
    """Mean squared error over the pixels of each image, shape ``(N,)``, on the CPU."""
    images = float_tensor(images, "images").cpu()
    recon = reconstruct(model, images, batch_size=batch_size).float()
    return (recon - images.reshape(recon.shape)).pow(2).flatten(1).mean(1)


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


def psnr(images: torch.Tensor, targets: torch.Tensor, *, max_value: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio of each image against its target, in dB, shape ``(N,)``.

    ``PSNR = 10 log10(max_value^2 / MSE)`` with the MSE over the image's pixels: +6 dB means
    half the root-mean-squared error. Tables report the *mean over images* (the usual
    convention in denoising papers), which is a little higher than the PSNR of the mean MSE.
    An exact copy has an infinite PSNR.
    """
    if images.shape != targets.shape:
        raise ValueError(f"psnr needs images and targets of the same shape, got {tuple(images.shape)} "
                         f"and {tuple(targets.shape)}")
    if images.ndim < 2:
        raise ValueError(f"psnr expects a batch (N, ...) of images, got shape {tuple(images.shape)}")
    mse = (images.detach().float() - targets.detach().float()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(max_value**2 / mse)


def ssim(images: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    """Structural similarity (Wang et al., 2004) of each image against its target, shape ``(N,)``.

    scikit-image's ``structural_similarity`` with its default 7x7 window on ``[0, 1]`` images:
    1 for identical images; unlike PSNR it rewards kept edges and local contrast over a
    uniformly small pixel error.
    """
    from skimage.metrics import structural_similarity

    if images.shape != targets.shape:
        raise ValueError(f"ssim needs images and targets of the same shape, got {tuple(images.shape)} "
                         f"and {tuple(targets.shape)}")
    a = images.detach().float().cpu().reshape(len(images), *images.shape[-2:]).numpy()
    b = targets.detach().float().cpu().reshape(len(targets), *targets.shape[-2:]).numpy()
    return np.array([structural_similarity(x, y, data_range=1.0) for x, y in zip(a, b)])


def ood_auc(in_scores: torch.Tensor | np.ndarray, out_scores: torch.Tensor | np.ndarray) -> float:
    """ROC AUC of telling out-of-distribution from in-distribution samples by a score (higher: more "out").

    The probability that a random out-of-distribution sample scores higher than a random
    in-distribution one (scikit-learn's ``roc_auc_score``): 0.5 is chance, 1.0 perfect. With a
    reconstruction error as the score, it measures how well an autoencoder knows what it
    was trained on.
    """
    from sklearn.metrics import roc_auc_score

    a = np.asarray(in_scores, dtype=np.float64).reshape(-1)
    b = np.asarray(out_scores, dtype=np.float64).reshape(-1)
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"ood_auc needs scores of both kinds, got {len(a)} in- and {len(b)} out-of-distribution")
    return float(roc_auc_score(np.r_[np.zeros(len(a)), np.ones(len(b))], np.r_[a, b]))


def knn_accuracy(train_features: torch.Tensor | np.ndarray, train_labels: torch.Tensor | np.ndarray,
                 test_features: torch.Tensor | np.ndarray, test_labels: torch.Tensor | np.ndarray,
                 *, k: int = 5) -> float:
    """Test accuracy of a k-nearest-neighbour classifier (scikit-learn, Euclidean distance).

    It has no weights to train, so it measures the feature space itself: are images of the
    same class near each other in it? Features are ``(N, d)``; images are flattened.
    """
    from sklearn.neighbors import KNeighborsClassifier

    def flat(a: torch.Tensor | np.ndarray) -> np.ndarray:
        a = a.detach().float().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, dtype=np.float32)
        return a.reshape(len(a), -1)

    x_train, x_test = flat(train_features), flat(test_features)
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(f"train and test features must have the same size, "
                         f"got {x_train.shape[1]} and {x_test.shape[1]}")
    y_train, y_test = np.asarray(train_labels).reshape(-1), np.asarray(test_labels).reshape(-1)
    if len(y_train) != len(x_train) or len(y_test) != len(x_test):
        raise ValueError("expected one label per sample")
    classifier = KNeighborsClassifier(n_neighbors=k).fit(x_train, y_train)
    return float(classifier.score(x_test, y_test))


def evaluate_elbo(
    model: VAE,
    images: torch.Tensor,
    loss: VAELoss | None = None,
    *,
    seed: int = 0,
    batch_size: int = 1000,
) -> dict[str, float]:
    """The loss of ``model`` on ``images`` with **one sample of z per image**, as the PyTorch
    example reports its test loss: ``{"loss", "recon", "kl"}`` averaged per image.

    ``fit``'s ``val_loss`` decodes the posterior mean (eval-mode ``forward``), which
    gives a slightly lower reconstruction term than a sample does; this function draws
    ``z = mu + sigma * eps`` on the CPU with a generator seeded by ``seed``, so the figure is
    repeatable (and the same on every device). With the default loss (``VAELoss("bce")``)
    ``"loss"`` is the negative ELBO in nats per image.
    """
    loss = loss or VAELoss("bce")
    mu, logvar = predict(model.encode, images, batch_size=batch_size)
    z = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(seed))
    x_hat = predict(model.decode, z, batch_size=batch_size)
    terms = loss((x_hat, mu, logvar), float_tensor(images, "images").cpu())
    return {key: float(value) for key, value in terms.items()}


class PixelReader:
    """The series' pixel reader: a k-nearest-neighbour classifier on the raw pixels of training images.

    It names what an image shows without judging by eye and without ever seeing a code, so it
    cannot be fooled by the code space under study. ``read`` gives, per image, the majority label
    of its ``k`` nearest training images (Euclidean distance; a tie goes to the smaller label, as
    in scikit-learn), how many of the ``k`` voted for it, and the distance to the nearest one.

    A majority label alone names *anything*, a speckled blob included. So a reading only counts as a
    drawn instance of its class when at least ``min_votes`` of the ``k`` neighbours agree **and** the
    image lies no farther from its nearest training image than ``max_distance``; ``calibrate`` sets
    that distance from reference images (a quantile of their own nearest-training-image distances),
    for example a decoder's reconstructions of real test images.
    """

    def __init__(self, train_images: torch.Tensor, train_labels: torch.Tensor, *, k: int = 5,
                 min_votes: int = 4) -> None:
        from sklearn.neighbors import KNeighborsClassifier

        if not 1 <= min_votes <= k:
            raise ValueError(f"min_votes must be between 1 and k={k}, got {min_votes}")
        self.k, self.min_votes, self.max_distance = k, min_votes, float("inf")
        self._labels = np.asarray(train_labels).reshape(-1)
        self._knn = KNeighborsClassifier(n_neighbors=k).fit(self._flat(train_images), self._labels)

    @staticmethod
    def _flat(images: torch.Tensor | np.ndarray) -> np.ndarray:
        a = images.detach().float().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images,
                                                                                                       np.float32)
        return a.reshape(len(a), -1)

    def read(self, images: torch.Tensor | np.ndarray) -> dict[str, np.ndarray]:
        """``{"label", "votes", "distance", "drawn"}``, one entry per image (NumPy arrays)."""
        distance, index = self._knn.kneighbors(self._flat(images))
        neighbours = self._labels[index]
        label = np.array([np.bincount(row).argmax() for row in neighbours], dtype=np.int64)
        votes = (neighbours == label[:, None]).sum(1)
        nearest = distance[:, 0]
        return {"label": label, "votes": votes, "distance": nearest,
                "drawn": (votes >= self.min_votes) & (nearest <= self.max_distance)}

    def calibrate(self, reference_images: torch.Tensor | np.ndarray, quantile: float = 0.99) -> float:
        """Set and return ``max_distance``: the ``quantile`` of the reference images' nearest-training distances."""
        self.max_distance = float(np.quantile(self.read(reference_images)["distance"], quantile))
        return self.max_distance

    def names(self, images: torch.Tensor | np.ndarray, classes: list[str] | None = None,
              none: str = "–") -> list[str]:
        """The class each image is read as (``str(label)`` or ``classes[label]``), ``none`` where it is not drawn."""
        reading = self.read(images)
        return [(classes[y] if classes else str(y)) if drawn else none
                for y, drawn in zip(reading["label"].tolist(), reading["drawn"].tolist())]
