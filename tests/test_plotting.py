"""Shared figures: image tiling and the decoded latent grid's orientation."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from aenb.plotting import decode_grid, image_strip, show_rows  # noqa: E402


class _CodePainter(nn.Module):
    """A 'decoder' that paints each image with its code: top half z1, bottom half z2."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        images = torch.empty(len(z), 1, 28, 28)
        images[:, :, :14] = z[:, 0, None, None, None]
        images[:, :, 14:] = z[:, 1, None, None, None]
        return images


def test_decode_grid_puts_z1_across_and_the_largest_z2_on_top() -> None:
    z1, z2 = [0.1, 0.2, 0.3], [0.5, 0.7]
    grid = decode_grid(_CodePainter(), z1, z2)
    assert grid.shape == (2 * 28, 3 * 28)
    for row, z2_value in enumerate(reversed(z2)):
        for col, z1_value in enumerate(z1):
            tile = grid[28 * row : 28 * (row + 1), 28 * col : 28 * (col + 1)]
            assert np.allclose(tile[:14], z1_value) and np.allclose(tile[14:], z2_value)


def test_image_rows_have_labels_and_title(mnist_test_small) -> None:
    images = mnist_test_small.images[:6]
    strip = image_strip(images)
    assert strip.shape == (28 + 4, 6 * 30 + 2)
    fig = show_rows({"input": images, "again": images}, "Six digits", column_labels=list("abcdef"))
    assert fig._suptitle.get_text() == "Six digits"
    assert [ax.get_ylabel() for ax in fig.axes] == ["input", "again"]


def test_show_rows_draws_each_pixel_as_a_sharp_square(mnist_test_small) -> None:
    """What the notebooks store: every image pixel a 2x2 block of equal PNG pixels, in a grey-scale PNG."""
    import io

    from PIL import Image

    from aenb.plotting import PIXEL_SCALE, compact_png

    images = mnist_test_small.images[:4]
    fig = show_rows({"input": images}, "Four digits", column_labels=["a", "b", "c", "d"])
    png = Image.open(io.BytesIO(compact_png(fig)))
    assert png.mode == "L"  # nothing but greys: one channel
    picture = np.asarray(png.convert("L")).astype(int)
    expected = (image_strip(images) * 255).round().astype(int).repeat(PIXEL_SCALE, 0).repeat(PIXEL_SCALE, 1)
    expected = expected[2 * PIXEL_SCALE : -2 * PIXEL_SCALE, 2 * PIXEL_SCALE : -2 * PIXEL_SCALE]  # inside the frame
    h, w = expected.shape
    matches = [(y, x) for y in range(picture.shape[0] - h + 1) for x in range(picture.shape[1] - w + 1)
               if picture[y, x] == expected[0, 0] and np.abs(picture[y : y + h, x : x + w] - expected).max() <= 1]
    assert matches, "the digits are not in the picture pixel for pixel"
