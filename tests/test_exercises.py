"""aenb.exercises: every check passes on its reference solution, fails with the intended hint on a typical wrong
answer, and says "not answered yet" on the placeholder. The checks run on real MNIST / Fashion-MNIST slices."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier
from torch import nn
from torch.nn import functional as F

import aenb.exercises as ex
from aenb.data import Split
from aenb.models import MLPAutoencoder

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"


def solution(stem: str) -> ModuleType:
    """A reference solution module, ``solutions/<stem>.py`` (not a package: file names start with digits)."""
    spec = importlib.util.spec_from_file_location(f"solution_{stem[:2]}", SOLUTIONS / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


S01, S02, S03 = solution("01_basic_autoencoder"), solution("02_latent_space_3d"), solution("03_variational_autoencoder")
S04, S05, S06 = solution("04_conv_autoencoder"), solution("05_denoising_autoencoder"), \
    solution("06_what_autoencoders_are_for")


def unanswered(*args: Any) -> Any:
    raise NotImplementedError("Exercise: see the markdown above")


def verdict(capsys: pytest.CaptureFixture[str], check: Callable[..., bool], *args: Any) -> tuple[bool, str]:
    passed = check(*args)
    return passed, capsys.readouterr().out


@pytest.fixture(scope="module")
def trained_ae(mnist_train_small: Split) -> MLPAutoencoder:
    """A small 784-64-3 autoencoder, one epoch on 2,000 digits (notebook 02 passes its own trained model)."""
    torch.manual_seed(0)
    model = MLPAutoencoder((784, 64, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = mnist_train_small.images
    for idx in torch.randperm(len(x)).split(25):
        optimizer.zero_grad()
        F.mse_loss(model(x[idx]), x[idx]).backward()
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return model.eval()


# ---------------------------------------------------------------- typical wrong answers


def mse_summed(images: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    return (recon - images).pow(2).flatten(1).sum(1)


def step_without_zero_grad(model: nn.Module, images: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    loss = F.mse_loss(model(images), images)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_without_step(model: nn.Module, images: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    optimizer.zero_grad()
    loss = F.mse_loss(model(images), images)
    loss.backward()
    return loss.item()


def pca_uncentred(train_images: torch.Tensor, images: torch.Tensor, k: int) -> torch.Tensor:
    v = torch.linalg.svd(train_images.reshape(len(train_images), -1), full_matrices=False).Vh[:k]
    return (images.reshape(len(images), -1) @ v.T @ v).reshape(images.shape)


def choose_k_on_training(train_images: torch.Tensor, train_labels: torch.Tensor, val_images: torch.Tensor,
                         val_labels: torch.Tensor, candidates: tuple[int, ...]) -> int:
    x = train_images.flatten(1).numpy()
    return max(candidates, key=lambda k: KNeighborsClassifier(k).fit(x, train_labels.numpy()).score(x, train_labels))


def budget_whole_runs(val_a: list[float], images_a: int, val_b: list[float], images_b: int) -> tuple[float, float]:
    return min(val_a), min(val_b)


def budget_equal_epochs(val_a: list[float], images_a: int, val_b: list[float], images_b: int) -> tuple[float, float]:
    epochs = min(len(val_a), len(val_b))
    return min(val_a[:epochs]), min(val_b[:epochs])


def find_code_ascending(decode: Callable, targets: torch.Tensor, latent_dim: int) -> torch.Tensor:
    z = torch.zeros(len(targets), latent_dim, requires_grad=True)
    for _ in range(100):
        loss = F.mse_loss(decode(z), targets)
        (grad,) = torch.autograd.grad(loss, z)
        with torch.no_grad():
            z += 0.5 * grad  # the sign error: up the gradient
    return z.detach()


def find_code_training_the_decoder(decode: Callable, targets: torch.Tensor, latent_dim: int) -> torch.Tensor:
    module = decode.__self__
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-2)
    z = torch.zeros(len(targets), latent_dim)
    for _ in range(5):
        optimizer.zero_grad()
        F.mse_loss(decode(z), targets).backward()
        optimizer.step()
    return z


def kl_without_exp(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar, dim=-1)


def kl_wrong_sign(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)


def reparameterize_with_variance(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    return mu + logvar.exp() * eps


def reparameterize_detached(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    return (mu + torch.exp(0.5 * logvar) * eps).detach()


def vae_loss_pixel_mean(x_hat: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy(x_hat, x) + S03.my_kl_divergence(mu, logvar).mean()


def conv_size_without_one(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride


def grad_without_sigmoid_slope(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return 2 * (torch.sigmoid(a) - x)


def decoder_kernel_4() -> nn.Module:
    return nn.Sequential(nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),
                         nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1), nn.Sigmoid())


def decoder_without_output_padding() -> nn.Module:
    return nn.Sequential(nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1), nn.ReLU(),
                         nn.ConvTranspose2d(32, 1, 3, stride=2, padding=1), nn.Sigmoid())


def choose_worst(denoise: Callable, settings: list[int], val_noisy: torch.Tensor, val_clean: torch.Tensor) -> tuple:
    from aenb.metrics import psnr
    scores = {k: float(psnr(denoise(val_noisy, k), val_clean).mean()) for k in settings}
    return min(scores, key=scores.get), min(scores.values())


def choose_on_test(denoise: Callable, settings: list[int], val_noisy: torch.Tensor, val_clean: torch.Tensor) -> tuple:
    from aenb.data import load_dataset
    from aenb.metrics import psnr
    test = load_dataset("mnist", "test", limit=1000).images
    noisy = (test + 0.5 * torch.randn_like(test)).clamp(0, 1)
    scores = {k: float(psnr(denoise(noisy, k), test).mean()) for k in settings}
    return max(scores, key=scores.get), max(scores.values())


def noisy_in_place(images: torch.Tensor, factor: float) -> torch.Tensor:
    return images.add_(factor * torch.randn_like(images)).clamp_(0, 1)


def noisy_unclipped(images: torch.Tensor, factor: float) -> torch.Tensor:
    return images + factor * torch.randn_like(images)


def noisy_same_every_time(images: torch.Tensor, factor: float) -> torch.Tensor:
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(0))
    return (images + factor * noise).clamp(0, 1)


def noisy_variance(images: torch.Tensor, factor: float) -> torch.Tensor:
    return (images + factor**2 * torch.randn_like(images)).clamp(0, 1)


def box_filter(noisy: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(noisy, 3, stride=1, padding=1, count_include_pad=False)


def threshold_wrong_quantile(in_scores: np.ndarray, rate: float) -> float:
    return float(np.quantile(in_scores, rate))


def precision_recall_swapped(in_scores: np.ndarray, out_scores: np.ndarray, threshold: float) -> tuple[float, float]:
    precision, recall = S06.my_precision_recall(in_scores, out_scores, threshold)
    return recall, precision


def detector_on(chosen_on: str) -> Callable[..., tuple[float, float, float]]:
    """A 6.3 answer that sets its threshold on the "train" or "test" scores instead of the validation ones."""
    def detector(train: np.ndarray, val: np.ndarray, test: np.ndarray, out: np.ndarray, rate: float) -> tuple:
        return S06.my_detector(train, {"train": train, "test": test}[chosen_on], test, out, rate)
    return detector


# ---------------------------------------------------------------- the table: check, solution, wrong answers

CASES = [
    (ex.check_per_image_mse, S01.my_per_image_mse, [(mse_summed, "you summed over the 784 pixels")]),
    (ex.check_train_step, S01.my_train_step, [(step_without_zero_grad, "Call optimizer.zero_grad() before"),
                                              (step_without_step, "after your step the weights are unchanged")]),
    (ex.check_pca_reconstruct, S01.my_pca_reconstruct, [(pca_uncentred, "PCA works on centred data")]),
    (ex.check_choose_k, S02.my_choose_k, [(choose_k_on_training, "reads its own training images best"),
                                          (lambda *args: 0.92, "return the candidate k itself")]),
    (ex.check_equal_budget, S02.my_equal_budget,
     [(budget_whole_runs, "the longer run wins partly because it ran longer"),
      (budget_equal_epochs, "equal epochs is not an equal budget here")]),
    (ex.check_kl_divergence, S03.my_kl_divergence, [(kl_without_exp, "missing exp"),
                                                    (kl_wrong_sign, "a KL divergence is never negative")]),
    (ex.check_reparameterize, S03.my_reparameterize,
     [(reparameterize_with_variance, "exp(logvar) is the variance"),
      (reparameterize_detached, "no gradient flows from it")]),
    (ex.check_vae_loss, S03.my_vae_loss, [(vae_loss_pixel_mean, "you averaged the reconstruction term over the "
                                                                "pixels")]),
    (ex.check_beta_kl_prediction, S03.predicted_kl, [(2.0, "that is about the KL of beta = 1"),
                                                     (-1.0, "a KL divergence is never negative")]),
    (ex.check_conv_output_size, S04.my_conv_output_size, [(conv_size_without_one, "add 1")]),
    (ex.check_sigmoid_gradient, S04.my_sigmoid_mse_grad, [(grad_without_sigmoid_slope, "the sigmoid's slope")]),
    (ex.check_checkerboard_decoder, S04.my_transposed_decoder,
     [(decoder_kernel_4, "a multiple of the stride"), (decoder_without_output_padding, "output_padding=1")]),
    (ex.check_choose_on_validation, S05.my_choose_on_validation,
     [(choose_worst, "you kept the worst setting"), (choose_on_test, "choose with the validation split alone")]),
    (ex.check_noisy_batch, S05.my_noisy_batch,
     [(noisy_in_place, "changed the images it was given"), (noisy_unclipped, "clip the result"),
      (noisy_same_every_time, "draw fresh noise in every call"), (noisy_variance, "standard deviation")]),
    (ex.check_classical_denoiser, S05.my_denoise_without_training, [(box_filter, "a box (mean) filter")]),
    (ex.check_threshold, S06.my_threshold, [(threshold_wrong_quantile, "you took the rate quantile")]),
    (ex.check_precision_recall, S06.my_precision_recall, [(precision_recall_swapped, "you swapped them")]),
    (ex.check_detector, S06.my_detector, [(detector_on("train"), "you set the threshold on the images the model"),
                                          (detector_on("test"), "you set the threshold on the test scores")]),
]
IDS = [check.__name__ for check, _, _ in CASES]
WRONG = [(check, wrong, hint) for check, _, wrongs in CASES for wrong, hint in wrongs]


@pytest.mark.parametrize(("check", "answer", "wrongs"), CASES, ids=IDS)
def test_solution_passes(capsys: pytest.CaptureFixture[str], check: Callable[..., bool], answer: Any,
                         wrongs: list) -> None:
    passed, out = verdict(capsys, check, answer)
    assert passed is True, out
    assert ": correct. " in out and out.count("\n") == 1


@pytest.mark.parametrize(("check", "wrong", "hint"), WRONG,
                         ids=[f"{c.__name__}-{h[:30]}" for c, _, h in WRONG])
def test_typical_wrong_answer_gets_its_hint(capsys: pytest.CaptureFixture[str], check: Callable[..., bool],
                                            wrong: Any, hint: str) -> None:
    passed, out = verdict(capsys, check, wrong)
    assert passed is False
    assert ": not yet. " in out and "Traceback" not in out
    assert hint in " ".join(out.split()), out  # the hint may be wrapped over lines


@pytest.mark.parametrize(("check", "answer", "wrongs"), CASES, ids=IDS)
def test_placeholder_is_not_answered_yet(capsys: pytest.CaptureFixture[str], check: Callable[..., bool],
                                         answer: Any, wrongs: list) -> None:
    placeholder = ... if not callable(answer) else unanswered
    passed, out = verdict(capsys, check, placeholder)
    assert passed is False
    assert ": not answered yet. " in out and out.count("\n") == 1
    assert verdict(capsys, check, ...) == (False, out)  # `answer = ...` reads the same


def test_find_code(capsys: pytest.CaptureFixture[str], trained_ae: MLPAutoencoder, mnist_test_small: Split) -> None:
    images = mnist_test_small.images
    passed, out = verdict(capsys, ex.check_find_code, S02.my_find_code, trained_ae, images)
    assert passed is True and "correct. Decoded MSE" in out, out
    passed, out = verdict(capsys, ex.check_find_code, find_code_ascending, trained_ae, images)
    assert passed is False and "the error went up: step against the gradient" in " ".join(out.split()), out
    weights = copy.deepcopy(trained_ae.state_dict())
    passed, out = verdict(capsys, ex.check_find_code, find_code_training_the_decoder, trained_ae, images)
    assert passed is False and "changed the decoder's weights (they have been put back)" in out, out
    assert all(torch.equal(a, b) for a, b in zip(weights.values(), trained_ae.state_dict().values()))
    assert all(p.grad is None for p in trained_ae.parameters())
    passed, out = verdict(capsys, ex.check_find_code, unanswered, trained_ae, images)
    assert passed is False and "not answered yet" in out


# ---------------------------------------------------------------- what every check shares


@pytest.mark.parametrize(("answer", "message", "hint"), [
    (lambda images, recon: ..., "not answered yet", ""),
    (lambda images, recon: None, "the result of your function is None.", "did you forget the `return` statement?"),
    (lambda images, recon: torch.full((len(images),), float("nan")), "holds NaN values (500 of 500)", "log of 0"),
    (lambda images, recon: torch.zeros(len(images), dtype=torch.long), "has the wrong dtype", "integer or boolean"),
    (lambda images, recon: (recon - images).pow(2).mean(), "has the wrong shape", "one number per image"),
    (lambda images, recon: [0.0] * len(images), "is not a tensor", "return the tensor itself"),
    (torch.zeros(500), "expected a function, got a tensor", "without calling it"),
], ids=["ellipsis-returned", "none", "nan", "dtype", "shape", "list", "not-callable"])
def test_each_failure_has_its_own_message(capsys: pytest.CaptureFixture[str], answer: Any, message: str,
                                          hint: str) -> None:
    passed, out = verdict(capsys, ex.check_per_image_mse, answer)
    assert passed is False and message in out, out
    assert hint in " ".join(out.split()), out


def test_an_exception_in_the_readers_code_is_a_verdict_naming_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    def broken(images: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
        return images.reshape(7, -1) @ recon  # a shape error
    passed, out = verdict(capsys, ex.check_per_image_mse, broken)
    assert passed is False and "Traceback" not in out
    assert "your function raised RuntimeError:" in out
    assert "return images.reshape(7, -1) @ recon" in " ".join(out.split())


def test_a_failure_inside_the_check_is_still_a_verdict(capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("aenb.exercises.autoencoder.images", lambda *args: None)
    passed, out = verdict(capsys, ex.check_per_image_mse, S01.my_per_image_mse)
    assert passed is False and "could not check your answer (TypeError" in out


def test_verdicts_are_deterministic(capsys: pytest.CaptureFixture[str]) -> None:
    """Strict nbval compares the printed text: two runs print the same, with no addresses or timings."""
    first = [verdict(capsys, check, answer)[1] for check, answer, _ in CASES[:6]]
    second = [verdict(capsys, check, answer)[1] for check, answer, _ in CASES[:6]]
    assert first == second
    assert not any("0x" in text for text in first)


def test_every_check_is_exported_and_documented() -> None:
    checks = {name for name in dir(ex) if name.startswith("check_")}
    assert checks == set(ex.__all__) == set(IDS) | {"check_find_code"}
    for name in checks:
        assert getattr(ex, name).__doc__.startswith("Exercise ")
        assert name in ex.__doc__
