"""Notebook 05's pieces on real MNIST digits: the noise, PSNR / SSIM, the denoisers, the noise slider."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aenb.device import seed_everything
from aenb.inference import predict
from aenb.metrics import psnr, ssim
from aenb.models import FastDenoiser, MLPAutoencoder, OriginalDenoiser
from aenb.models.denoising import ORIGINAL_CODE_SHAPE
from aenb.noise import add_noise, noisy_inputs
from aenb.summary import multiply_adds
from aenb.training import bce_loss, fit
from aenb.widgets import NoiseExplorer


def test_noise_stays_in_range_and_leaves_the_input_alone(mnist_test_small) -> None:
    x = mnist_test_small.images[:500]
    before = x.clone()
    noisy = add_noise(x, 0.5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, before)
    assert noisy.shape == x.shape and noisy.dtype == x.dtype
    assert float(noisy.min()) == 0.0 and float(noisy.max()) == 1.0  # clipping happens at both ends
    # The noise is zero-mean before clipping: where the clean pixel is mid-grey, clipping is rare
    # and the mean change is ~0; on black background the clipped noise can only add brightness.
    background = x == 0
    assert float((noisy - x)[background].mean()) == pytest.approx(0.5 / math.sqrt(2 * math.pi), abs=0.01)


def test_noise_is_seedable_and_scales_with_the_factor(mnist_test_small) -> None:
    x = mnist_test_small.images[:200]
    a = add_noise(x, 0.3, generator=torch.Generator().manual_seed(1))
    b = add_noise(x, 0.3, generator=torch.Generator().manual_seed(1))
    c = add_noise(x, 0.3, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.manual_seed(5)
    d = add_noise(x, 0.3)
    torch.manual_seed(5)
    assert torch.equal(d, add_noise(x, 0.3))  # the global generator, as seed_everything sets it
    assert torch.equal(add_noise(x, 0.0), x)
    errors = [float((add_noise(x, f, generator=torch.Generator().manual_seed(0)) - x).pow(2).mean())
              for f in (0.1, 0.3, 0.5, 0.7)]
    assert errors == sorted(errors) and errors[0] > 0


@pytest.mark.parametrize("factor", [-0.1, float("nan"), float("inf"), "0.5", True])
def test_noise_rejects_bad_factors(factor, mnist_test_small) -> None:
    with pytest.raises(ValueError, match="noise factor must be a finite number >= 0"):
        add_noise(mnist_test_small.images[:2], factor)
    with pytest.raises(ValueError, match="noise factor"):
        noisy_inputs(factor)


def test_noise_rejects_bad_images() -> None:
    with pytest.raises(TypeError, match="float images"):
        add_noise(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), 0.5)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        add_noise(torch.zeros(2, 28, 28), 0.5)


def test_noisy_inputs_draws_fresh_noise_each_call(mnist_test_small) -> None:
    transform = noisy_inputs(0.5)
    x = mnist_test_small.images[:50]
    assert not torch.equal(transform(x), transform(x))


def test_psnr_matches_its_definition_on_real_noisy_digits(mnist_test_small) -> None:
    x = mnist_test_small.images[:300]
    noisy = add_noise(x, 0.5, generator=torch.Generator().manual_seed(0))
    values = psnr(noisy, x)
    mse = (noisy - x).pow(2).mean(dim=(1, 2, 3))
    assert values.shape == (300,)
    assert torch.allclose(values, -10 * torch.log10(mse), atol=1e-4)
    # The anchor: noisy MNIST digits at f = 0.5 sit near 9.4 dB.
    assert float(values.mean()) == pytest.approx(9.38, abs=0.15)
    # Halving the error adds 10 log10(4) = 6.02 dB.
    halfway = x + (noisy - x) / 2
    assert torch.allclose(psnr(halfway, x), values + 20 * math.log10(2), atol=1e-3)
    assert math.isinf(float(psnr(x[:1], x[:1])[0]))
    assert torch.allclose(psnr(noisy * 255, x * 255, max_value=255.0), values, atol=1e-3)


def test_psnr_and_ssim_reject_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="same shape"):
        psnr(torch.zeros(2, 1, 28, 28), torch.zeros(3, 1, 28, 28))
    with pytest.raises(ValueError, match="same shape"):
        ssim(torch.zeros(2, 1, 28, 28), torch.zeros(2, 1, 28, 27))


def test_ssim_orders_images_by_their_damage(mnist_test_small) -> None:
    x = mnist_test_small.images[:100]
    light = add_noise(x, 0.1, generator=torch.Generator().manual_seed(0))
    heavy = add_noise(x, 0.5, generator=torch.Generator().manual_seed(0))
    assert np.allclose(ssim(x, x), 1.0)
    s_light, s_heavy = ssim(light, x), ssim(heavy, x)
    assert s_light.shape == (100,)
    assert (s_light > s_heavy).mean() > 0.95
    assert 0 < s_heavy.mean() < s_light.mean() < 1


def test_noise_explorer_slider_changes_the_noise_and_the_psnr(mnist_test_small) -> None:
    images = mnist_test_small.images[:5]
    explorer = NoiseExplorer(images, {"identity": torch.nn.Identity()}, factor=0.5)
    assert list(explorer.panels) == ["noisy", "identity", "clean"]
    assert np.array_equal(explorer.panels["clean"], images[0, 0].numpy())
    at_half = explorer.psnr["noisy"]
    assert explorer.psnr["identity"] == pytest.approx(at_half)
    explorer.factor_slider.value = 0.1
    assert explorer.psnr["noisy"] > at_half + 8  # a fifth of the noise: about +14 dB
    explorer.factor_slider.value = 0.0
    assert np.array_equal(explorer.panels["noisy"], images[0, 0].numpy())
    assert explorer.next_image() == 1
    assert np.array_equal(explorer.panels["clean"], images[1, 0].numpy())
    png = explorer.snapshot()
    assert png.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert "NoiseExplorer(f=0.00" in repr(explorer)


def test_noise_explorer_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        NoiseExplorer(torch.zeros(3, 28, 28))
    with pytest.raises(ValueError, match="factor must lie"):
        NoiseExplorer(torch.zeros(3, 1, 28, 28), factor=2.0)


# ---------------------------------------------------------------- the denoisers


@pytest.mark.parametrize("cls", [OriginalDenoiser, FastDenoiser])
def test_denoisers_map_images_to_images_in_range(cls, mnist_test_small) -> None:
    torch.manual_seed(0)
    model = cls().eval()
    x = mnist_test_small.images[:8]
    with torch.no_grad():
        out = model(x)
        code = model.encode(x)
    assert out.shape == x.shape
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    assert torch.equal(model.decode(code), out)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        model(torch.zeros(2, 784))


def test_original_denoiser_has_the_original_shapes_and_our_model_is_cheaper() -> None:
    original = OriginalDenoiser().eval()
    with torch.no_grad():
        assert tuple(original.encode(torch.zeros(1, 1, 28, 28)).shape[1:]) == ORIGINAL_CODE_SHAPE  # 28 -> 14 -> 7 -> 4
    # The original's full-resolution 64 -> 64 convolution alone: 28 * 28 * 64 * 64 * 9 multiply-adds.
    assert multiply_adds(original) > 28 * 28 * 64 * 64 * 9
    assert multiply_adds(FastDenoiser()) < multiply_adds(original) / 2.5
    with pytest.raises(ValueError, match="width must be a positive int"):
        FastDenoiser(width=0)


def test_multiply_adds_counts_dense_and_conv_layers() -> None:
    mlp = MLPAutoencoder((784, 64), activation="relu")
    assert multiply_adds(mlp) == 784 * 64 * 2
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.Conv2d(8, 4, 3, stride=2, padding=1),
                               torch.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1))
    assert multiply_adds(conv) == 28 * 28 * 8 * 9 + 14 * 14 * 4 * 8 * 9 + 14 * 14 * 4 * 2 * 9


def test_bce_loss_matches_torch_and_rejects_nothing_silently(mnist_test_small) -> None:
    x = mnist_test_small.images[:16]
    p = torch.full_like(x, 0.3)
    assert float(bce_loss(p, x)) == pytest.approx(float(torch.nn.functional.binary_cross_entropy(p, x)))
    assert float(bce_loss(x, x)) < float(bce_loss(p, x))


def test_a_short_denoising_run_beats_the_noisy_input(mnist_train_small, mnist_test_small) -> None:
    """Real training on 2,000 real digits: after two epochs the output is much closer to the clean digits."""
    generator = seed_everything(0)
    model = FastDenoiser()
    history = fit(model, mnist_train_small.images, epochs=2, batch_size=32, lr=2e-3, loss=bce_loss,
                  input_transform=noisy_inputs(0.5), generator=generator, verbose=False)
    assert history["loss"][-1] < history["loss"][0]
    x = mnist_test_small.images[:300]
    noisy = add_noise(x, 0.5, generator=torch.Generator().manual_seed(1))
    denoised = predict(model.eval(), noisy)
    assert float(psnr(denoised, x).mean()) > float(psnr(noisy, x).mean()) + 5


def test_fit_runs_conv_models_channels_last_with_the_same_result(mnist_train_small) -> None:
    """Channels-last is a memory layout: the trained weights match a contiguous run closely."""
    x = mnist_train_small.images[:256]
    results = []
    for layout in ("channels_last", "contiguous"):
        seed_everything(0)
        model = FastDenoiser()
        if layout == "contiguous":  # the plain loop, same order and steps, default memory layout
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            order = torch.randperm(len(x), generator=seed_everything(0))
            for start in range(0, len(x), 64):
                xb = x.index_select(0, order[start:start + 64])
                loss = bce_loss(model(xb), xb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            assert not model.encoder[3].weight.is_contiguous(memory_format=torch.channels_last)
        else:
            fit(model, x, epochs=1, batch_size=64, loss=bce_loss, generator=seed_everything(0), verbose=False)
            # fit trains channels-last and puts the model's memory format back when it returns
            assert model.encoder[3].weight.is_contiguous()
        results.append(predict(model.eval(), x[:32]))
    assert torch.allclose(results[0], results[1], atol=1e-3)
