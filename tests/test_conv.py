"""The convolutional autoencoder of notebook 04 and the Keras-style model summary."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from aenb.checkpoints import load_checkpoint, save_checkpoint
from aenb.models import ConvAutoencoder
from aenb.models.conv import Conv2dSame, same_padding
from aenb.summary import summary


@pytest.mark.parametrize("decoder", ["upsample", "transpose"])
def test_shapes_range_and_code(decoder: str, mnist_test_small) -> None:
    model = ConvAutoencoder(latent_dim=10, decoder=decoder).eval()
    x = mnist_test_small.images[:6]
    with torch.no_grad():
        z = model.encode(x)
        out = model(x)
        again = model.decode(z)
    assert z.shape == (6, 10) and out.shape == (6, 1, 28, 28)
    assert torch.equal(out, again)
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0  # sigmoid output


def test_both_decoders_have_the_same_parameter_count() -> None:
    """A 3x3 transposed conv has exactly the weights of the 3x3 conv that follows an upsampling."""
    up, tr = ConvAutoencoder(10, "upsample"), ConvAutoencoder(10, "transpose")
    n_up = sum(p.numel() for p in up.parameters())
    assert n_up == sum(p.numel() for p in tr.parameters()) == 105_187
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in tr.modules()) == 2
    assert sum(isinstance(m, nn.Upsample) for m in up.modules()) == 2


def test_latent_relu_and_initialisation() -> None:
    x = torch.rand(32, 1, 28, 28)
    relu = ConvAutoencoder(4, latent_activation="relu")
    with torch.no_grad():
        assert float(relu.encode(x).min()) >= 0.0
    keras = ConvAutoencoder(4)  # Keras' defaults: zero biases
    assert all(not m.bias.detach().any() for m in keras.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    torch_init = ConvAutoencoder(4, init="torch")
    assert all(m.bias.detach().any() for m in torch_init.modules() if isinstance(m, nn.Linear))


def test_flat_images_and_wrong_codes_are_refused() -> None:
    model = ConvAutoencoder(2)
    with pytest.raises(ValueError, match=r"expects images of shape \(N, 1, 28, 28\), got \(5, 784\)"):
        model(torch.zeros(5, 784))
    with pytest.raises(ValueError, match=r"ConvAutoencoder.decode expects codes of shape \(N, 2\), got \(5, 10\)"):
        model.decode(torch.zeros(5, 10))
    with pytest.raises(TypeError, match=r"float images"):
        model.encode(torch.zeros(5, 1, 28, 28, dtype=torch.uint8))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"latent_dim": 0}, "latent_dim must be a positive int"),
        ({"decoder": "pixelshuffle"}, "unknown decoder 'pixelshuffle'"),
        ({"latent_activation": "tanh"}, "unknown latent_activation 'tanh'"),
        ({"init": "he"}, "unknown init 'he'"),
    ],
)
def test_bad_arguments(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        ConvAutoencoder(**kwargs)


def test_same_padding_is_keras_padding() -> None:
    """Stride 2 on an even size: Keras pads one zero after (bottom/right), none before."""
    assert same_padding(28, 3, 2) == (0, 1) and same_padding(14, 3, 2) == (0, 1)
    assert same_padding(28, 3, 1) == (1, 1) and same_padding(7, 3, 2) == (1, 1)
    conv = Conv2dSame(1, 2, 3, stride=2)
    x = torch.rand(3, 1, 28, 28)
    expected = F.conv2d(F.pad(x, (0, 1, 0, 1)), conv.weight, conv.bias, stride=2)
    with torch.no_grad():
        out = conv(x)
        symmetric = F.conv2d(x, conv.weight, conv.bias, stride=2, padding=1)
    assert out.shape == (3, 2, 14, 14)
    assert torch.allclose(out, expected)
    assert not torch.allclose(out, symmetric)  # PyTorch's padding=1 samples other pixels


def test_checkpoint_round_trip(tmp_path, mnist_test_small) -> None:
    model = ConvAutoencoder(2, decoder="transpose").eval()
    path = save_checkpoint(model, tmp_path / "conv.pt", metadata={"test_mse": 0.1})
    loaded, meta = load_checkpoint(path, ConvAutoencoder, latent_dim=2, decoder="transpose")
    x = mnist_test_small.images[:4]
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert meta == {"test_mse": 0.1}


def test_summary_rows_shapes_and_totals() -> None:
    model = ConvAutoencoder(10)
    text = summary(model)
    lines = text.splitlines()
    assert lines[0] == 'Model: "ConvAutoencoder"'
    assert lines[2].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#"]
    rows = {line.split()[0]: line for line in lines if line.startswith((" encoder.", " decoder.", " input"))}
    assert rows["input"].split()[-5:] == ["(None,", "1,", "28,", "28)", "0"]
    assert "(Conv2dSame)       (None, 8, 14, 14)         80" in rows["encoder.0"]
    assert "(None, 8, 7, 7)" in rows["encoder.4"] and "(None, 392)" in rows["encoder.8"]
    assert "(None, 10)" in rows["encoder.9"] and rows["encoder.9"].endswith("3,930")
    assert "(None, 64, 14, 14)" in rows["decoder.5"] and "(None, 1, 28, 28)" in rows["decoder.12"]
    total = sum(p.numel() for p in model.parameters())
    per_row = sum(int(line.split()[-1].replace(",", "")) for line in rows.values())
    assert per_row == total == 105_187
    assert f"Total params: {total:,} ({total * 4 / 1024:.2f} KB)" in text
    assert "Trainable params: 105,187" in text and "Non-trainable params: 0 (0 B)" in text
    assert summary(model) == text  # deterministic (notebooks compare it)
    assert model.training  # the model's mode is left as it was


def test_summary_counts_frozen_parameters_as_non_trainable() -> None:
    model = ConvAutoencoder(2)
    for p in model.encoder.parameters():
        p.requires_grad_(False)
    frozen = sum(p.numel() for p in model.encoder.parameters())
    text = summary(model.eval(), name="frozen encoder")
    assert text.startswith('Model: "frozen encoder"')
    assert f"Non-trainable params: {frozen:,} " in text
    assert not model.training
