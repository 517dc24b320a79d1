"""The convolutional autoencoder of notebook 04 and the Keras-style model summary."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from aenb.checkpoints import load_checkpoint, save_checkpoint
from aenb.models import ConvAutoencoder
from aenb.models.conv import Conv2dSame, FastConvAutoencoder, same_padding
from aenb.summary import multiply_adds, summary
from aenb.training import fit


@pytest.mark.parametrize("build", [lambda: ConvAutoencoder(10, "upsample"), lambda: ConvAutoencoder(10, "transpose"),
                                   lambda: FastConvAutoencoder(10, kernel_size=3), lambda: FastConvAutoencoder(10)],
                         ids=["upsample", "transpose", "fast-kernel3", "fast-kernel4"])
def test_shapes_range_and_code(build, mnist_test_small) -> None:
    model = build().eval()
    x = mnist_test_small.images[:6]
    with torch.no_grad():
        z = model.encode(x)
        out = model(x)
        again = model.decode(z)
    assert z.shape == (6, 10) and out.shape == (6, 1, 28, 28)
    assert torch.equal(out, again)
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0  # sigmoid output


@pytest.mark.parametrize("extra_conv, n_params", [(False, 95_939), (True, 105_187)], ids=["book", "post"])
def test_both_decoders_have_the_same_parameter_count(extra_conv: bool, n_params: int) -> None:
    """A 3x3 transposed conv has exactly the weights of the 3x3 conv that follows an upsampling. The book's
    layers have the parameter count of Cheong's Keras model (95,939); the post's extra 32 -> 32 convolution
    at 28x28 adds 9,248."""
    up = ConvAutoencoder(10, "upsample", extra_conv=extra_conv)
    tr = ConvAutoencoder(10, "transpose", extra_conv=extra_conv)
    assert sum(p.numel() for p in up.parameters()) == sum(p.numel() for p in tr.parameters()) == n_params
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in tr.modules()) == 2
    assert sum(isinstance(m, nn.Upsample) for m in up.modules()) == 2
    at_28 = [m for m in up.decoder[7:] if isinstance(m, nn.Conv2d)]  # after the second upsampling
    assert [(m.in_channels, m.out_channels) for m in at_28] == ([(32, 32), (32, 1)] if extra_conv else [(32, 1)])
    with pytest.raises(ValueError, match="extra_conv must be True or False, got 1"):
        ConvAutoencoder(10, extra_conv=1)


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
    assert "(None, 64, 14, 14)" in rows["decoder.5"] and "(None, 1, 28, 28)" in rows["decoder.10"]
    total = sum(p.numel() for p in model.parameters())
    per_row = sum(int(line.split()[-1].replace(",", "")) for line in rows.values())
    assert per_row == total == 95_939
    assert f"Total params: {total:,} ({total * 4 / 1024:.2f} KB)" in text
    assert "Trainable params: 95,939" in text and "Non-trainable params: 0 (0 B)" in text
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


# --- FastConvAutoencoder: ours, designed for time to quality -------------------------------------------------


@pytest.mark.parametrize("kernel_size", [3, 4])
def test_fast_layers(kernel_size: int) -> None:
    model = FastConvAutoencoder(latent_dim=10, kernel_size=kernel_size)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 4
    assert sum(isinstance(m, nn.ConvTranspose2d) and m.kernel_size == (kernel_size,) * 2 for m in model.modules()) == 2


def test_multiply_adds_of_the_book_and_post_layers() -> None:
    """Notebook 04's arithmetic per image, by hand: each conv does in * out * 9 per output pixel, each Dense
    in * out. The post's extra 32 -> 32 convolution at 28x28 more than doubles the book's layers; ours is close
    to the book's (its gain comes from the recipe, not from less arithmetic)."""
    conv = lambda c_in, c_out, side: c_in * c_out * 9 * side * side  # noqa: E731
    book = (conv(1, 8, 14) + conv(8, 8, 14) + 2 * conv(8, 8, 7) + 392 * 10      # encoder
            + 10 * 3136 + conv(64, 64, 7) + conv(64, 32, 14) + conv(32, 1, 28))  # decoder
    assert multiply_adds(ConvAutoencoder(10)) == book == 5_863_536
    assert multiply_adds(ConvAutoencoder(10, extra_conv=True)) == book + conv(32, 32, 28)
    assert 0.9 < multiply_adds(FastConvAutoencoder(10)) / book < 1.1


def test_fast_kernel_4_overlaps_evenly_kernel_3_does_not() -> None:
    """The checkerboard mechanism of notebook 04: kernel copies covering each output pixel."""
    counts = {}
    for k in (3, 4):
        t = nn.ConvTranspose2d(1, 1, k, stride=2, padding=1, output_padding=1 if k == 3 else 0, bias=False)
        nn.init.ones_(t.weight)
        with torch.no_grad():
            counts[k] = t(torch.ones(1, 1, 6, 6))[0, 0, 3:9, 3:9]
    assert counts[4].unique().tolist() == [4.0]
    assert counts[3].unique().tolist() == [1.0, 2.0, 4.0]


def test_fast_bad_arguments_and_checkpoint(tmp_path, mnist_test_small) -> None:
    for kwargs, message in [({"latent_dim": 0}, "latent_dim must be a positive int"),
                            ({"width": 0}, "width must be a positive int"),
                            ({"hidden": 0}, "hidden must be a positive int"),
                            ({"kernel_size": 5}, "kernel_size must be 3 or 4")]:
        with pytest.raises(ValueError, match=message):
            FastConvAutoencoder(**kwargs)
    model = FastConvAutoencoder(2, width=8, hidden=16, kernel_size=3).eval()
    path = save_checkpoint(model, tmp_path / "fast.pt")
    loaded, _ = load_checkpoint(path, FastConvAutoencoder, **model.config)
    x = mnist_test_small.images[:4]
    with torch.no_grad():
        assert torch.equal(loaded.eval()(x), model(x))
    with pytest.raises(ValueError, match=r"FastConvAutoencoder.decode expects codes of shape \(N, 2\)"):
        model.decode(torch.zeros(3, 10))


def test_fast_trains_without_collapse(mnist_test_small) -> None:
    """A few steps of notebook 04's recipe already spread the 2-number codes and light up the strokes."""
    torch.manual_seed(0)
    model = FastConvAutoencoder(2, width=8, hidden=32)
    x = mnist_test_small.images
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    fit(model, x, epochs=3, batch_size=32, loss="bce", optimizer=optimizer, verbose=False,
        generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        codes, out = model.encode(x), model(x)
    assert float(codes.std(0).min()) > 0.05  # not collapsed to a point
    mean_image_mse = float(((x - x.mean(0)) ** 2).mean())
    assert float(((out - x) ** 2).mean()) < 0.9 * mean_image_mse  # better than drawing the average digit
