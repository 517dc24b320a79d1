"""The explorers driven headlessly, as ipywidgets' own tests drive widgets: no browser.

Setting ``slider.value`` or clicking a button from Python fires the same callbacks a drag or a
click in the browser does, so these tests exercise the whole event path: decode, PNG, marker,
text, and the error line when a callback fails. They read only the explorers' public state
(``z``, ``image``, ``text``, ``nearest``, ``marker``, ``error``, ``panels``) and the PNG bytes
the browser receives (``views[name].value``). The models are real but small (one epoch on the
first 2,000 MNIST training images): their decoders already draw different images for
different codes, which the tests rely on.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image
from scipy.stats import norm

from aenb.device import seed_everything
from aenb.models import MLPAutoencoder
from aenb.training import fit
from aenb.widgets import LatentExplorer, NoiseExplorer
from aenb.widgets.base import STALE_BORDER
from aenb.widgets.images import IMAGE_SCALE, MARKER_COLORS
from aenb.widgets.latent import RANGE_PADDING


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
def model3(mnist_train_small):
    # A one-hidden-layer model: the deep 784-128-64-12-3 one of notebook 01 needs several
    # epochs to leave the "draw the mean digit" plateau, which would make these tests slow.
    return _trained((784, 64, 3), mnist_train_small.images)


@pytest.fixture(scope="module")
def model2(mnist_train_small):
    return _trained((784, 64, 2), mnist_train_small.images)


def _codes(model, images):
    with torch.inference_mode():
        return model.encode(images)


def _explorer(model, data, **kwargs):
    return LatentExplorer(model.decode, model.latent_dim, codes=_codes(model, data.images),
                          labels=data.labels, class_names=data.classes, images=data.images, **kwargs)


def _png(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    return np.asarray(image.convert("RGB") if image.mode == "P" else image)


def _decode(model, z: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        return model.decode(z[None].float())[0, 0].numpy()


def _marker_centre(scatter_png: bytes) -> np.ndarray:
    """(column, row) of the marker's red fill in the scatter PNG the browser receives."""
    rows, cols = np.nonzero(np.all(_png(scatter_png) == MARKER_COLORS[0], axis=-1))
    assert len(rows) > 50, "no marker in the scatter"
    return np.array([cols.mean(), rows.mean()])


def _fails_beyond(model, limit: float):
    """model.decode, raising as a reader's own decoder might for z1 > limit."""
    def decoder(z):
        if float(z[0, 0]) > limit:
            raise ValueError(f"z1 = {float(z[0, 0]):.2f} is outside the region I trained on")
        return model.decode(z)
    return decoder


# ---------------------------------------------------------------------- LatentExplorer


def test_image_follows_every_slider_event(model3, mnist_test_small):
    explorer = _explorer(model3, mnist_test_small)
    seen = []
    for slider in explorer.sliders:
        for fraction in (0.1, 0.9):
            slider.value = slider.min + fraction * (slider.max - slider.min)
            z = torch.tensor([s.value for s in explorer.sliders])
            assert torch.allclose(explorer.z, z)
            np.testing.assert_allclose(explorer.image, _decode(model3, z), atol=1e-6)
            # What the browser receives: the same image, upscaled, as 8-bit PNG.
            shown = _png(explorer.views["decoded"].value)
            assert shown.shape == (28 * IMAGE_SCALE, 28 * IMAGE_SCALE)
            np.testing.assert_allclose(shown[::IMAGE_SCALE, ::IMAGE_SCALE] / 255, explorer.image,
                                       atol=0.5 / 255 + 1e-6)
            seen.append(explorer.image.copy())
        # Each slider really changes the picture (a view that ignored z would fail here).
        assert np.abs(seen[-1] - seen[-2]).max() > 0.01
    assert explorer.error is None


def test_3d_model_shows_coordinates_and_no_marker(model3, mnist_test_small):
    explorer = _explorer(model3, mnist_test_small)
    lows = [lo for lo, _ in explorer.ranges]
    target = np.array(lows) + 0.25 * np.array([hi - lo for lo, hi in explorer.ranges])
    explorer.set_z(target)
    assert explorer.text.startswith("z = (" + ", ".join(f"{v:+.2f}" for v in target) + ")")
    assert explorer.marker is None and "scatter" not in explorer.views
    # The text names the nearest test code's class and distance, and they are right.
    dist = np.linalg.norm(_codes(model3, mnist_test_small.images).numpy() - target, axis=1)
    assert explorer.nearest == int(dist.argmin())
    assert f"class {mnist_test_small.classes[int(mnist_test_small.labels[explorer.nearest])]}" in explorer.text
    assert f"distance {dist.min():.2f}" in explorer.text


def test_marker_moves_with_the_sliders_on_a_2d_model(model2, mnist_test_small):
    explorer = _explorer(model2, mnist_test_small)
    (lo1, hi1), (lo2, hi2) = explorer.ranges
    explorer.set_z([lo1 + 0.2 * (hi1 - lo1), lo2 + 0.5 * (hi2 - lo2)])
    left_png = explorer.views["scatter"].value
    explorer.sliders[0].value = lo1 + 0.8 * (hi1 - lo1)
    right_png = explorer.views["scatter"].value
    explorer.sliders[1].value = lo2 + 0.9 * (hi2 - lo2)
    up_png = explorer.views["scatter"].value
    assert explorer.marker == pytest.approx((explorer.sliders[0].value, explorer.sliders[1].value))
    left, right, up = (_marker_centre(png) for png in (left_png, right_png, up_png))
    # z1 moves the marker right only, z2 moves it up (rows count downwards) only.
    assert right[0] - left[0] > 100 and abs(right[1] - left[1]) < 0.5
    assert abs(up[0] - right[0]) < 0.5 and right[1] - up[1] > 50
    # Away from both markers, the scatter is the same picture.
    before, after = _png(right_png), _png(up_png)
    col, row = np.rint(up).astype(int)
    away = (slice(row - 20, row + 20), slice(col - 40, col - 20))
    assert np.array_equal(before[away], after[away])
    assert not np.array_equal(before[row - 3 : row + 4, col - 3 : col + 4], after[row - 3 : row + 4, col - 3 : col + 4])


def test_marker_pixel_is_linear_in_z(model2, mnist_test_small):
    explorer = _explorer(model2, mnist_test_small)
    (lo1, hi1), (lo2, hi2) = explorer.ranges
    centres = []
    for f in (0.0, 0.5, 1.0):
        explorer.set_z([lo1 + f * (hi1 - lo1), lo2 + f * (hi2 - lo2)])
        centres.append(_marker_centre(explorer.views["scatter"].value))
    assert np.abs(centres[1] - (centres[0] + centres[2]) / 2).max() <= 1


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


def test_ranges_from_codes_cover_the_data(model3, mnist_test_small):
    codes = _codes(model3, mnist_test_small.images).numpy()
    explorer = _explorer(model3, mnist_test_small)
    lows, highs = np.percentile(codes, [0.5, 99.5], axis=0)
    for (lo, hi), slider, a, b, column in zip(explorer.ranges, explorer.sliders, lows, highs, codes.T):
        assert (slider.min, slider.max) == (lo, hi)
        assert lo < a < b < hi
        assert hi - lo == pytest.approx((b - a) * (1 + 2 * RANGE_PADDING), rel=1e-4)
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


def test_random_button_jumps_to_that_images_code(model3, mnist_test_small):
    codes = _codes(model3, mnist_test_small.images).numpy()
    explorer = _explorer(model3, mnist_test_small, seed=1)
    assert explorer.random_button.description == "random test image"  # digits or clothes alike
    visited = set()
    for _ in range(5):
        explorer.random_button.click()
        index = explorer.nearest
        visited.add(index)
        # The sliders hold exactly that test image's code (not a clamped neighbour)...
        np.testing.assert_allclose(explorer.z.numpy(), codes[index], atol=1e-6)
        # ...and its image is shown beside the decoded one.
        shown = _png(explorer.views["nearest"].value)[::IMAGE_SCALE, ::IMAGE_SCALE] / 255
        np.testing.assert_allclose(shown, mnist_test_small.images[index, 0].numpy(), atol=0.5 / 255 + 1e-6)
        assert f"class {mnist_test_small.classes[int(mnist_test_small.labels[index])]}" in explorer.text
    assert len(visited) > 1
    index = explorer.random_image()  # the method form returns the index it jumped to
    np.testing.assert_allclose(explorer.z.numpy(), codes[index], atol=1e-6)
    codes_only = LatentExplorer(model3.decode, 3, codes=codes)
    assert codes_only.random_button.description == "random test code"


def test_decoder_runs_in_eval_and_inference_mode():
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


def test_slider_events_do_not_create_figures(model2, mnist_test_small, monkeypatch):
    explorer = _explorer(model2, mnist_test_small)

    def no_figures(*args, **kwargs):
        raise AssertionError("a slider event created a Matplotlib figure")

    monkeypatch.setattr(Figure, "__init__", no_figures)
    explorer.sliders[0].value = explorer.sliders[0].max
    explorer.sliders[1].value = explorer.sliders[1].min
    assert explorer.error is None


def test_display_bundle_css_classes_and_snapshot(model2, mnist_test_small):
    explorer = _explorer(model2, mnist_test_small)
    bundle = explorer._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id
    # The text form does not depend on the weights, so notebook outputs compare across runs.
    assert bundle["text/plain"] == "LatentExplorer(sliders: z1, z2; prior='none')"
    assert "aenb-latent-explorer" in explorer.widget._dom_classes
    assert all("aenb-latent-slider" in s._dom_classes for s in explorer.sliders)
    assert "aenb-latent-image" in explorer.views["decoded"]._dom_classes
    assert all(s.continuous_update for s in explorer.sliders)
    snap = explorer.snapshot()
    picture = _png(snap.data)
    assert snap.data[:8] == b"\x89PNG\r\n\x1a\n" and picture.shape[1] > picture.shape[0] > 200


def test_a_failing_decoder_is_reported_in_the_widget(model3, mnist_test_small):
    codes = _codes(model3, mnist_test_small.images)
    explorer = LatentExplorer(_fails_beyond(model3, limit=float(codes[:, 0].quantile(0.75))), 3, codes=codes,
                              images=mnist_test_small.images)
    good_image, good_png = explorer.image.copy(), explorer.views["decoded"].value
    explorer.sliders[0].value = explorer.sliders[0].max
    # The error is in the widget's own status line, naming what the reader did and what failed...
    assert explorer.error.startswith(f"moving z1 to {explorer.sliders[0].max:+.2f} failed: ValueError: z1 = ")
    assert "outside the region I trained on" in explorer.status.value
    # ...the image it could not redraw is the last one that worked, marked as stale.
    assert np.array_equal(explorer.image, good_image) and explorer.views["decoded"].value == good_png
    assert all(view.layout.border == STALE_BORDER for view in explorer.views.values())
    # The random button reports the same way when it jumps to a code the decoder refuses.
    while explorer.error is None or "button" not in explorer.error:
        explorer.random_button.click()
    assert explorer.error.startswith("the 'random test image' button failed: ValueError")
    # Back in the working region, everything is drawn and the error line is cleared.
    explorer.sliders[0].value = explorer.sliders[0].min
    assert explorer.error is None and explorer.status.value == ""
    assert all(view.layout.border is None for view in explorer.views.values())
    np.testing.assert_allclose(explorer.image, _decode(model3, explorer.z), atol=1e-6)


def test_a_decoder_that_fails_at_once_fails_the_cell(model3):
    with pytest.raises(ValueError, match="outside the region"):
        LatentExplorer(_fails_beyond(model3, limit=-10.0), 3, ranges=[(-1, 1)] * 3)
    with pytest.raises(ValueError, match="784 NaN or infinite pixels"):
        LatentExplorer(lambda z: model3.decode(z) * float("nan"), 3, ranges=[(-1, 1)] * 3)


@pytest.mark.parametrize("decoder, shape", [(torch.nn.Linear(3, 10), "(1, 10)"),
                                            (lambda z: torch.rand(1, 3, 28, 28), "(1, 3, 28, 28)"),
                                            (lambda z: torch.rand(1, 28, 1), "(1, 28, 1)")])
def test_a_decoder_whose_output_is_not_an_image_is_refused_at_construction(decoder, shape):
    """A classifier head or a colour decoder would otherwise be shown as a strip of pixels."""
    expected = (rf"the decoder's output for a code of shape \(1, 3\) has shape \{shape[:-1]}\): expected one grey "
                rf"image, \(1, 1, H, W\), \(1, H, W\) or a flat square \(1, H \* H\)")
    with pytest.raises(ValueError, match=expected):
        LatentExplorer(decoder, 3, ranges=[(-1, 1)] * 3)


def test_flat_and_square_decoder_outputs_are_images(model3):
    explorer = LatentExplorer(lambda z: model3.decode(z).reshape(1, 784), 3, ranges=[(-1, 1)] * 3)
    np.testing.assert_allclose(explorer.image, _decode(model3, explorer.z), atol=1e-6)
    assert LatentExplorer(lambda z: torch.rand(1, 16, 16), 3, ranges=[(-1, 1)] * 3).image.shape == (16, 16)


def test_non_finite_start_and_integer_images_are_refused(model3, mnist_test_small):
    codes = _codes(model3, mnist_test_small.images)
    for bad in ([float("nan"), 0.0, 0.0], [0.0, float("inf"), 0.0]):
        with pytest.raises(ValueError, match=r"start must be finite numbers, got \[.*(nan|inf)"):
            LatentExplorer(model3.decode, 3, codes=codes, start=bad)
    explorer = LatentExplorer(model3.decode, 3, codes=codes)
    with pytest.raises(ValueError, match="z must be finite"):
        explorer.set_z([0.0, float("nan"), 0.0])
    as_bytes = (mnist_test_small.images * 255).round().to(torch.uint8)
    with pytest.raises(ValueError, match=r"floats in \[0, 1\].*torch.uint8 values 0-255: pass images.float\(\) / 255"):
        LatentExplorer(model3.decode, 3, codes=codes, images=as_bytes)
    with pytest.raises(ValueError, match=r"floats in \[0, 1\].*from 0 to 255: pass images / 255"):
        LatentExplorer(model3.decode, 3, codes=codes, images=as_bytes.float())


# ---------------------------------------------------------------------- NoiseExplorer


def test_noise_explorer_reports_a_failing_denoiser(model3, mnist_test_small):
    def diverged_at_high_noise(x):  # a real model whose output goes NaN on very noisy input
        out = model3(x)
        return out * float("nan") if float(x.std()) > 0.4 else out

    explorer = NoiseExplorer(mnist_test_small.images[:3], {"diverged": diverged_at_high_noise}, factor=0.1)
    good = {name: image.copy() for name, image in explorer.panels.items()}
    explorer.factor_slider.value = 1.0
    assert explorer.error == ("setting noise f to 1.00 failed: RuntimeError: denoiser 'diverged' on a "
                              "(1, 1, 28, 28) image: ValueError: the image has 784 NaN or infinite pixels")
    assert all(np.array_equal(explorer.panels[name], good[name]) for name in good)
    assert explorer.views["noisy"].layout.border == STALE_BORDER
    explorer.factor_slider.value = 0.2
    assert explorer.error is None and explorer.psnr["noisy"] < float("inf")


def test_noise_explorer_refuses_bad_start_values_and_integer_images(mnist_test_small):
    images = mnist_test_small.images[:3]
    for factor in (float("nan"), -0.1, 2.0):
        with pytest.raises(ValueError, match=r"factor must lie in \[0, max_factor=1.0\]"):
            NoiseExplorer(images, factor=factor)
    with pytest.raises(ValueError, match="max_factor must be a positive finite number, got inf"):
        NoiseExplorer(images, max_factor=float("inf"))
    with pytest.raises(ValueError, match=r"torch.uint8 values 0-255: pass images.float\(\) / 255"):
        NoiseExplorer((images * 255).to(torch.uint8))
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        NoiseExplorer(images[:, 0])
