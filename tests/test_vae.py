"""The VAE: KL formula, reparameterisation, loss reductions, shapes, a short real training."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal
from torch.distributions import kl_divergence as torch_kl

from aenb.checkpoints import load_checkpoint, save_checkpoint
from aenb.device import seed_everything
from aenb.inference import predict, reconstruct
from aenb.metrics import evaluate_elbo, per_image_mse
from aenb.models import VAE, reconstruction_of
from aenb.models.vae import VAELoss, kl_divergence, reconstruction_term, reparameterize
from aenb.training import evaluate, fit


def test_kl_closed_form_matches_torch_distributions() -> None:
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(64, 7, generator=gen, dtype=torch.float64) * 2
    logvar = torch.randn(64, 7, generator=gen, dtype=torch.float64) * 1.5
    expected = torch_kl(Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)
    ours = kl_divergence(mu, logvar)
    assert ours.shape == (64,)
    torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-10)
    assert float(ours.min()) >= 0.0


def test_kl_is_zero_at_the_prior_and_grows_away_from_it() -> None:
    zeros = torch.zeros(3, 5)
    assert torch.equal(kl_divergence(zeros, zeros), torch.zeros(3))  # mu = 0, sigma = 1
    # one dimension with mu = 1, sigma = 1: KL = mu^2 / 2
    assert float(kl_divergence(torch.tensor([1.0]), torch.tensor([0.0]))) == pytest.approx(0.5)
    # sigma = e: KL = -1/2 (1 + 2 - e^2)
    assert float(kl_divergence(torch.tensor([0.0]), torch.tensor([2.0]))) == pytest.approx(-0.5 * (3 - math.e**2))
    with pytest.raises(ValueError, match="same shape"):
        kl_divergence(torch.zeros(2, 3), torch.zeros(2, 4))


def test_reparameterize_lets_gradients_reach_mu_and_logvar() -> None:
    mu = torch.tensor([[0.5, -1.0]], requires_grad=True)
    logvar = torch.tensor([[0.2, -0.7]], requires_grad=True)
    gen = torch.Generator().manual_seed(0)
    z = reparameterize(mu, logvar, generator=gen)
    z.pow(2).sum().backward()
    assert mu.grad is not None and logvar.grad is not None
    assert bool((mu.grad != 0).all()) and bool((logvar.grad != 0).all())
    # dz/dmu = 1 and dz/dlogvar = sigma * eps / 2, checked against the eps that was drawn
    eps = torch.randn(1, 2, generator=torch.Generator().manual_seed(0))
    sigma = (0.5 * logvar.detach()).exp()
    torch.testing.assert_close(mu.grad, 2 * z.detach())
    torch.testing.assert_close(logvar.grad, 2 * z.detach() * sigma * eps / 2)


def test_reparameterize_has_the_right_mean_and_variance() -> None:
    n = 200_000
    mu = torch.tensor([1.5, -2.0, 0.0]).expand(n, 3)
    logvar = torch.tensor([0.0, math.log(0.25), math.log(4.0)]).expand(n, 3)
    z = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(z.mean(0), torch.tensor([1.5, -2.0, 0.0]), atol=0.02, rtol=0)
    torch.testing.assert_close(z.var(0), torch.tensor([1.0, 0.25, 4.0]), rtol=0.02, atol=0)
    # same generator seed, same draw
    z2 = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(1))
    assert torch.equal(z, z2)


def _fake_output(n: int = 6, latent: int = 4, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=gen)
    x_hat = torch.rand(n, 1, 28, 28, generator=gen).clamp(0.01, 0.99)
    mu = torch.randn(n, latent, generator=gen)
    logvar = torch.randn(n, latent, generator=gen) * 0.3
    return (x_hat, mu, logvar), x


def test_loss_reductions_are_exactly_sum_over_pixels_and_mean_over_batch() -> None:
    (x_hat, mu, logvar), x = _fake_output()
    n = len(x)
    for recon, per_pixel in [
        ("bce", torch.nn.functional.binary_cross_entropy(x_hat, x, reduction="none")),
        ("half_sse", 0.5 * (x_hat - x).pow(2)),
    ]:
        terms = VAELoss(recon)((x_hat, mu, logvar), x)
        # sum over pixels, then mean over the batch
        assert float(terms["recon"]) == pytest.approx(float(per_pixel.sum()) / n, rel=1e-5)
        # ... which is 784 x the per-pixel mean that F.*_loss(reduction="mean") returns
        assert float(terms["recon"]) == pytest.approx(784 * float(per_pixel.mean()), rel=1e-5)
        mean_terms = VAELoss(recon, pixel_reduction="mean")((x_hat, mu, logvar), x)
        assert float(terms["recon"]) == pytest.approx(784 * float(mean_terms["recon"]), rel=1e-5)
        # KL: sum over latent dimensions, mean over the batch, the same in both
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum() / n
        assert float(terms["kl"]) == pytest.approx(float(kl), rel=1e-5)
        assert float(mean_terms["kl"]) == pytest.approx(float(kl), rel=1e-5)
        assert float(terms["loss"]) == pytest.approx(float(terms["recon"] + terms["kl"]), rel=1e-6)
    # the PyTorch example's loss, BCE(sum) + KL(sum) over the batch, is n x ours
    bce_sum = torch.nn.functional.binary_cross_entropy(x_hat, x, reduction="sum")
    kld_sum = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    ours = float(VAELoss("bce")((x_hat, mu, logvar), x)["loss"])
    assert float(bce_sum + kld_sum) == pytest.approx(n * ours, rel=1e-5)
    # beta weighs the KL term only
    b4 = VAELoss("bce", beta=4)((x_hat, mu, logvar), x)
    assert float(b4["loss"]) == pytest.approx(float(b4["recon"] + 4 * b4["kl"]), rel=1e-6)


def test_gaussian_with_fitted_sigma_is_the_gaussian_nll_at_sigma2_equal_mse() -> None:
    (x_hat, _, _), x = _fake_output()
    mse = float((x_hat - x).pow(2).mean())
    per_image = reconstruction_term(x_hat, x, "gaussian_optimal_sigma")
    sigma = math.sqrt(mse)
    nll = -Normal(x_hat, sigma).log_prob(x).reshape(len(x), -1).sum(1)
    torch.testing.assert_close(per_image, nll, rtol=1e-4, atol=1e-3)
    assert float(per_image.mean()) == pytest.approx(392 * (math.log(2 * math.pi * mse) + 1), rel=1e-5)


def test_bad_loss_arguments_are_explained() -> None:
    with pytest.raises(ValueError, match="unknown reconstruction term 'l1'"):
        VAELoss("l1")
    with pytest.raises(ValueError, match="pixel_reduction"):
        VAELoss(pixel_reduction="median")
    with pytest.raises(ValueError, match="beta"):
        VAELoss(beta=-1)
    with pytest.raises(TypeError, match=r"\(x_hat, mu, logvar\), got Tensor"):
        VAELoss()(torch.rand(2, 1, 28, 28), torch.rand(2, 1, 28, 28))


def test_vae_shapes_eval_mode_uses_the_mean_and_input_checks(mnist_test_small) -> None:
    model = VAE((784, 64, 2))
    x = mnist_test_small.images[:8]
    model.eval()
    with torch.no_grad():
        x_hat, mu, logvar = model(x)
        assert x_hat.shape == (8, 1, 28, 28) and mu.shape == logvar.shape == (8, 2)
        assert 0.0 <= float(x_hat.min()) and float(x_hat.max()) <= 1.0
        torch.testing.assert_close(x_hat, model.decode(mu))  # eval mode: z = mu, deterministic
        torch.testing.assert_close(reconstruction_of(model(x)), x_hat)
        torch.testing.assert_close(predict(model, x)[0], x_hat)  # predict passes the tuple through
        torch.testing.assert_close(reconstruct(model, x), x_hat)
        assert per_image_mse(model, x).shape == (8,)
        model.train()
        assert not torch.allclose(model(x)[0], x_hat)  # training mode: z is sampled
    with pytest.raises(ValueError, match=r"VAE.decode expects codes of shape \(N, 2\), got \(5, 3\)"):
        model.decode(torch.zeros(5, 3))
    with pytest.raises(ValueError, match=r"VAE.encode expects images of shape"):
        model.encode(torch.zeros(4, 28, 28))
    with pytest.raises(ValueError, match="at least one hidden layer"):
        VAE((784, 2))
    with pytest.raises(ValueError, match="unknown activation"):
        VAE(activation="gelu")


def test_checkpoint_round_trip(tmp_path, mnist_test_small) -> None:
    model = VAE((784, 32, 3), activation="tanh").eval()
    path = save_checkpoint(model, tmp_path / "vae.pt", metadata={"epochs": 0})
    loaded, meta = load_checkpoint(path, VAE, sizes=[784, 32, 3])
    x = mnist_test_small.images[:4]
    with torch.no_grad():
        for a, b in zip(model(x), loaded(x)):
            torch.testing.assert_close(a, b)
    assert meta == {"epochs": 0}


def test_short_training_lowers_the_loss_and_evaluate_elbo_is_repeatable(mnist_train_small, mnist_test_small) -> None:
    gen = seed_everything(0)
    model = VAE((784, 128, 8))
    loss = VAELoss("bce")
    train, test = mnist_train_small.images[:1000], mnist_test_small.images[:500]
    before = evaluate_elbo(model, test, loss)
    history = fit(model, train, epochs=3, batch_size=50, loss=loss, validation_data=test,
                  generator=gen, device="cpu", verbose=False)
    assert {"loss", "recon", "kl", "val_loss", "val_recon", "val_kl"} <= set(history.history)
    assert history["loss"][-1] < history["loss"][0]
    after = evaluate_elbo(model, test, loss, seed=0)
    assert after["loss"] < before["loss"] - 100  # from ~543 nats (untrained) to < 250
    assert after["loss"] == pytest.approx(after["recon"] + after["kl"], rel=1e-6)
    assert evaluate_elbo(model, test, loss, seed=0) == after  # seeded: repeatable
    other = evaluate_elbo(model, test, loss, seed=1)  # another draw of z: a slightly different estimate
    assert other["loss"] != after["loss"] and other["loss"] == pytest.approx(after["loss"], rel=0.02)
    assert other["kl"] == pytest.approx(after["kl"], rel=1e-6)  # the KL term does not depend on z
    # fit's val_loss decodes the posterior mean instead (eval-mode forward): same KL, another recon
    assert evaluate(model, test, loss=loss)["kl"] == pytest.approx(after["kl"], rel=1e-5)
    assert not model.training
