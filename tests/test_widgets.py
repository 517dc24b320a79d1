"""LatentExplorer driven headlessly, as ipywidgets' own tests drive widgets: no browser.

Setting ``slider.value`` from Python fires the same ``observe`` callbacks a drag in the
browser does, so these tests exercise the whole event path: decode, PNG, marker, text.
The models are real but small (one epoch on 2,000 MNIST images): their decoders already
draw different images for different codes, which the tests rely on.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.stats import norm

import aenb.widgets as aw
from aenb.data import load_dataset
from aenb.device import seed_everything
from aenb.models import MLPAutoencoder
from aenb.training import fit
from aenb.widgets import LatentExplorer


@pytest.fixture(scope="module")
def mnist():
    return load_dataset("mnist", "test", limit=2000)


def _trained(sizes, images):
    generator = seed_everything(0)
    model = MLPAutoencoder(sizes=sizes, activation="tanh")
    # One thread: these tiny models gain nothing from more, and on a busy 2-core machine
    # (another test run beside this one) competing OpenMP threads slow training tenfold.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fit(model, images, epochs=1, batch_size=50, lr=5e-3, generator=generator, device="cpu", verbose=False)
    finally:
        torch.set_num_threads(threads)
    return model.eval()


@pytest.fixture(scope="module")
def model3(mnist):
    # A one-hidden-layer model: the deep 784-128-64-12-3 one of notebook 01 needs several
    # epochs to leave the "draw the mean digit" plateau, which would make these tests slow.
    return _trained((784, 64, 3), mnist.images)


@pytest.fixture(scope="module")
def model2(mnist):
    return _trained((784, 64, 2), mnist.images)


def _codes(model, images):
    with torch.inference_mode():
        return model.encode(images)


def _explorer(model, mnist, **kwargs):
    return LatentExplorer(model.decode, model.latent_dim, codes=_codes(model, mnist.images),
                          labels=mnist.labels, class_names=mnist.classes, images=mnist.images, **kwargs)


def _png(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    return np.asarray(image.convert("RGB") if image.mode == "P" else image)


def _decode(model, z: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        return model.decode(z[None].float())[0, 0].numpy()


def test_image_follows_every_slider_event(model3, mnist):
    explorer = _explorer(model3, mnist)
    seen = []
    for i, slider in enumerate(explorer.sliders):
        for fraction in (0.1, 0.9):
            slider.value = slider.min + fraction * (slider.max - slider.min)
            z = torch.tensor([s.value for s in explorer.sliders])
            assert torch.allclose(explorer.z, z)
            np.testing.assert_allclose(explorer.image, _decode(model3, z), atol=1e-6)
            # What the browser receives: the same image, upscaled, as 8-bit PNG.
            shown = _png(explorer._image_widget.value)
            assert shown.shape == (28 * aw.IMAGE_SCALE, 28 * aw.IMAGE_SCALE)
            np.testing.assert_allclose(shown[:: aw.IMAGE_SCALE, :: aw.IMAGE_SCALE] / 255, explorer.image,
                                       atol=0.5 / 255 + 1e-6)
            seen.append(explorer.image.copy())
        # Each slider really changes the picture (a view that ignored z would fail here).
        assert np.abs(seen[-1] - seen[-2]).max() > 0.01


def test_3d_model_shows_coordinates_and_no_marker(model3, mnist):
    explorer = _explorer(model3, mnist)
    lows = [lo for lo, _ in explorer.ranges]
    target = np.array(lows) + 0.25 * np.array([hi - lo for lo, hi in explorer.ranges])
    explorer.set_z(target)
    expected = "z = (" + ", ".join(f"{v:+.2f}" for v in target) + ")"
    assert expected in explorer._coords.value
    assert explorer.marker is None and explorer._scatter_widget is None
    # The text names the nearest test code's class and distance, and they are right.
    dist = np.linalg.norm(_codes(model3, mnist.images).numpy() - target, axis=1)
    assert explorer.nearest == int(dist.argmin())
    assert f"class {mnist.classes[int(mnist.labels[explorer.nearest])]}" in explorer._coords.value
    assert f"distance {dist.min():.2f}" in explorer._coords.value


def test_marker_moves_with_the_sliders_on_a_2d_model(model2, mnist):
    explorer = _explorer(model2, mnist)
    (lo1, hi1), (lo2, hi2) = explorer.ranges
    explorer.set_z([lo1 + 0.2 * (hi1 - lo1), lo2 + 0.5 * (hi2 - lo2)])
    left = explorer.marker_pixel
    explorer.sliders[0].value = lo1 + 0.8 * (hi1 - lo1)
    right = explorer.marker_pixel
    explorer.sliders[1].value = lo2 + 0.9 * (hi2 - lo2)
    up = explorer.marker_pixel
    assert explorer.marker == pytest.approx((explorer.sliders[0].value, explorer.sliders[1].value))
    # z1 moves the marker right only, z2 moves it up (rows count downwards) only.
    assert right[0] - left[0] > 100 and right[1] == left[1]
    assert up[0] == right[0] and right[1] - up[1] > 50
    # The marker is painted where marker_pixel says, and nowhere else changes far from it.
    frame, base = explorer.scatter_frame, explorer._scatter_base
    col, row = up
    assert tuple(frame[row, col]) == (230, 20, 20)
    away = (slice(row - 20, row + 20), slice(col - 40, col - 20))
    assert np.array_equal(frame[away], base[away])
    assert not np.array_equal(frame[row - 3 : row + 4, col - 3 : col + 4], base[row - 3 : row + 4, col - 3 : col + 4])
    # ...and that frame is what the scatter Image widget shows.
    assert np.array_equal(_png(explorer._scatter_widget.value), frame)


def test_marker_pixel_is_linear_in_z(model2, mnist):
    explorer = _explorer(model2, mnist)
    (lo1, hi1), (lo2, hi2) = explorer.ranges
    pixels = []
    for f in (0.0, 0.5, 1.0):
        explorer.set_z([lo1 + f * (hi1 - lo1), lo2 + f * (hi2 - lo2)])
        pixels.append(np.array(explorer.marker_pixel))
    assert np.abs(pixels[1] - (pixels[0] + pixels[2]) / 2).max() <= 1
    h, w = explorer.scatter_frame.shape[:2]
    assert all(0 <= p[0] < w and 0 <= p[1] < h for p in pixels)


def test_ranges_of_wrong_length_or_order_are_refused(model3):
    with pytest.raises(ValueError, match="expected 3, got 2"):
        LatentExplorer(model3.decode, 3, ranges=[(-1, 1), (-1, 1)])
    with pytest.raises(ValueError, match="z2 .*lo < hi"):
        LatentExplorer(model3.decode, 3, ranges=[(-1, 1), (2, 2), (-1, 1)])
    with pytest.raises(ValueError, match=r"pass codes=\.\.\., ranges=\.\.\. or prior='normal'"):
        LatentExplorer(model3.decode, 3)
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        LatentExplorer(model3.decode, 3, codes=torch.zeros(5, 2))
    explorer = LatentExplorer(model3.decode, 3, ranges=[(-1, 1), (0, 4), (-3, -2)])
    assert [(s.min, s.max) for s in explorer.sliders] == [(-1, 1), (0, 4), (-3, -2)]


def test_ranges_from_codes_cover_the_data(model3, mnist):
    codes = _codes(model3, mnist.images).numpy()
    explorer = _explorer(model3, mnist)
    lows, highs = np.percentile(codes, [0.5, 99.5], axis=0)
    for (lo, hi), slider, a, b, column in zip(explorer.ranges, explorer.sliders, lows, highs, codes.T):
        assert (slider.min, slider.max) == (lo, hi)
        assert lo < a < b < hi
        assert hi - lo == pytest.approx((b - a) * (1 + 2 * aw.RANGE_PADDING), rel=1e-4)
        assert slider.value == pytest.approx(np.median(column), abs=1e-5)


def test_prior_ranges_come_from_norm_ppf_and_sampling_stays_inside(model3):
    explorer = LatentExplorer(model3.decode, 3, prior="normal")
    expected = (pytest.approx(norm.ppf(0.005)), pytest.approx(norm.ppf(0.995)))
    assert [(s.min, s.max) for s in explorer.sliders] == [expected] * 3
    assert explorer.sliders[0].max == pytest.approx(2.5758, abs=1e-4)
    assert explorer.z.tolist() == [0.0, 0.0, 0.0]
    assert explorer.random_button is None and explorer.prior_button is not None
    draws = []
    for _ in range(200):
        explorer.prior_button.click()
        draws.append(explorer.z.numpy().copy())
        np.testing.assert_allclose(explorer.image, _decode(model3, explorer.z), atol=1e-6)
    draws = np.array(draws)
    assert draws.std(axis=0) == pytest.approx([1, 1, 1], abs=0.2)
    assert np.abs(draws.mean(axis=0)).max() < 0.3
    assert len(np.unique(draws[:, 0])) == len(draws)


def test_random_digit_button_jumps_to_that_digits_code(model3, mnist):
    codes = _codes(model3, mnist.images).numpy()
    explorer = _explorer(model3, mnist, seed=1)
    assert explorer.random_button.description == "random test digit"
    visited = set()
    for _ in range(5):
        explorer.random_button.click()
        index = explorer.nearest
        visited.add(index)
        # The sliders hold exactly that test image's code (not a clamped neighbour)...
        np.testing.assert_allclose(explorer.z.numpy(), codes[index], atol=1e-6)
        # ...and its image is shown beside the decoded one.
        shown = _png(explorer._nearest_widget.value)[:: aw.IMAGE_SCALE, :: aw.IMAGE_SCALE] / 255
        np.testing.assert_allclose(shown, mnist.images[index, 0].numpy(), atol=0.5 / 255 + 1e-6)
        assert mnist.classes[int(mnist.labels[index])] in explorer._nearest_caption.value
    assert len(visited) > 1
    # The method form returns the index it jumped to.
    index = explorer.random_digit()
    np.testing.assert_allclose(explorer.z.numpy(), codes[index], atol=1e-6)


def test_decoder_runs_in_eval_and_inference_mode(mnist):
    model = MLPAutoencoder(sizes=(784, 64, 2)).train()
    calls = []

    def decoder(z):
        calls.append((torch.is_inference_mode_enabled(), model.training, tuple(z.shape)))
        return model.decode(z)

    explorer = LatentExplorer(decoder, 2, ranges=[(-1, 1), (-1, 1)])
    assert calls == [(True, True, (1, 2))]  # a plain function: the explorer cannot know its module
    LatentExplorer(model.decode, 2, ranges=[(-1, 1), (-1, 1)])
    assert model.training is False  # a bound method: its module is put in eval mode
    explorer.sliders[1].value = 0.5
    assert len(calls) == 2
    explorer.set_z([0.1, 0.2])
    assert len(calls) == 3  # moving both sliders at once decodes once


def test_slider_events_do_not_create_figures(model2, mnist, monkeypatch):
    explorer = _explorer(model2, mnist)

    def no_figures(*args, **kwargs):
        raise AssertionError("a slider event created a Matplotlib figure")

    monkeypatch.setattr(aw, "Figure", no_figures)
    explorer.sliders[0].value = explorer.sliders[0].max
    explorer.sliders[1].value = explorer.sliders[1].min


def test_display_bundle_css_classes_and_snapshot(model2, mnist):
    explorer = _explorer(model2, mnist)
    bundle = explorer._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id
    # The text form does not depend on the weights, so notebook outputs compare across runs.
    assert bundle["text/plain"] == "LatentExplorer(sliders: z1, z2; prior='none')"
    assert "aenb-latent-explorer" in explorer.widget._dom_classes
    assert all("aenb-latent-slider" in s._dom_classes for s in explorer.sliders)
    assert "aenb-latent-image" in explorer._image_widget._dom_classes
    assert all(s.continuous_update for s in explorer.sliders)
    snap = explorer.snapshot()
    picture = _png(snap.data)
    assert snap.data[:8] == b"\x89PNG\r\n\x1a\n" and picture.shape[1] > picture.shape[0] > 200
