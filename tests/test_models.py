"""Model shapes, ranges and input checks."""

from __future__ import annotations

import pytest
import torch

from aenb.models import MLPAutoencoder


def test_deep_autoencoder_shapes_and_parameter_count(mnist_test_small) -> None:
    model = MLPAutoencoder((784, 128, 64, 12, 3), "tanh")
    x = mnist_test_small.images[:8]
    with torch.no_grad():
        z = model.encode(x)
        out = model(x)
    assert z.shape == (8, 3) and out.shape == (8, 1, 28, 28)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0  # sigmoid output
    layers = [(784, 128), (128, 64), (64, 12), (12, 3)]
    expected = 2 * sum(a * b for a, b in layers) + sum(b for _, b in layers) + sum(a for a, _ in layers)
    assert sum(p.numel() for p in model.parameters()) == expected
    with torch.no_grad():
        assert torch.allclose(model(x.reshape(8, 784)), out)  # flat input accepted by the MLP


def test_code_activation_makes_relu_codes_non_negative(mnist_test_small) -> None:
    shallow = MLPAutoencoder((784, 64), "relu", code_activation=True)
    deep = MLPAutoencoder((784, 64), "relu", code_activation=False)
    x = mnist_test_small.images[:64]
    with torch.no_grad():
        assert float(shallow.encode(x).min()) >= 0.0
        assert float(deep.encode(x).min()) < 0.0


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.zeros(4, 28, 28), r"expects images of shape \(N, 1, 28, 28\) or \(N, 784\), got \(4, 28, 28\)"),
        (torch.zeros(4, 3, 28, 28), r"got \(4, 3, 28, 28\)"),
        (torch.zeros(4, 1, 28, 28, dtype=torch.uint8), r"float images in \[0, 1\], got dtype torch.uint8"),
    ],
)
def test_bad_images_are_explained(bad: torch.Tensor, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        MLPAutoencoder().encode(bad)


def test_decoder_checks_code_size() -> None:
    model = MLPAutoencoder((784, 64, 2))
    with pytest.raises(ValueError, match=r"codes of shape \(N, 2\), got \(5, 3\)"):
        model.decode(torch.zeros(5, 3))
    with pytest.raises(TypeError, match="torch.Tensor of codes, got list"):
        model.decode([[0.0, 0.0]])


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="start at 784"):
        MLPAutoencoder((100, 3))
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        MLPAutoencoder(activation="gelu")
