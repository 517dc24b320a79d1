"""Exercises of notebook 04 (a convolutional autoencoder): output sizes, the saturated sigmoid, checkerboards."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from .common import NotYet, as_number, as_tensor, call, compare, describe, exercise, images

#: (size, kernel, stride, padding): the encoder's own layers first, then cases that need the floor.
_CONV_CASES = [(28, 3, 2, 1), (14, 3, 2, 1), (28, 3, 1, 1), (7, 3, 2, 1), (28, 5, 1, 0), (28, 2, 2, 0),
               (5, 3, 2, 0), (28, 4, 3, 1)]


@exercise("4.1", "my_conv_output_size")
def check_conv_output_size(answer: Any) -> str:
    """Exercise 4.1: ``my_conv_output_size(size, kernel, stride, padding)``, the output size of a convolution."""
    for size, k, s, p in _CONV_CASES:
        expected = nn.Conv2d(1, 1, k, stride=s, padding=p)(torch.zeros(1, 1, size, size)).shape[-1]
        case = f"size={size}, kernel={k}, stride={s}, padding={p}"
        got = as_number(call(answer, size, k, s, p), what=f"your answer for {case}")
        if got != int(got):
            raise NotYet(f"for {case} your answer {got:g} is not a whole number.", expected=str(expected),
                         hint="a layer has a whole number of output positions: round down with // (floor division).")
        if int(got) != expected:
            mistakes = [((size + 2 * p - k) // s, "add 1: the kernel's first position counts as well."),
                        (-(-(size + 2 * p - k) // s) + 1, "round down (//), not up: a kernel that would stick out "
                                                          "past the padding is not placed."),
                        ((size - k) // s + 1, "padding adds `padding` zeros on each side: use size + 2 * padding."),
                        (size + 2 * p - k + 1, "divide by the stride: the kernel moves `stride` pixels at a time.")]
            hint = next((h for wrong, h in mistakes if wrong == int(got)),
                        "output = (size + 2 * padding - kernel) // stride + 1.")
            raise NotYet(f"for {case} your output size is wrong.", expected=f"{expected} (what nn.Conv2d gives)",
                         got=str(int(got)), hint=hint)
    return (f"Your formula agrees with nn.Conv2d in all {len(_CONV_CASES)} cases, e.g. 28 -> 14 -> 7 for the "
            f"encoder's 3x3 convolutions with stride 2 and padding 1.")


@exercise("4.2", "my_sigmoid_mse_grad")
def check_sigmoid_gradient(answer: Any) -> str:
    """Exercise 4.2: ``my_sigmoid_mse_grad(a, x)``, the derivative of ``(sigmoid(a) - x)**2`` with respect to a."""
    x = images("mnist", "test", 4).reshape(-1).double()
    a = torch.linspace(-30, 10, len(x), dtype=torch.float64)
    got = as_tensor(call(answer, a.clone(), x.clone()), tuple(a.shape), what="your gradient")
    a_grad = a.clone().requires_grad_(True)
    (torch.sigmoid(a_grad) - x).pow(2).sum().backward()
    expected = a_grad.grad
    s = torch.sigmoid(a)
    compare(got, expected, problem="your gradient differs from autograd's.", rtol=1e-5, atol=1e-12,
            hint="chain rule: d/da (s - x)^2 = 2 (s - x) * ds/da, with ds/da = s (1 - s) for s = sigmoid(a).",
            mistakes={"the chain rule needs the sigmoid's slope too: multiply by s * (1 - s).": 2 * (s - x),
                      "the factor 2 of the square is missing.": (s - x) * s * (1 - s),
                      "check the sign: the derivative of (s - x)^2 is 2 (s - x) s', not 2 (x - s) s'.":
                          2 * (x - s) * s * (1 - s)})
    at = torch.tensor([-20.0], dtype=torch.float64)
    stroke = float(2 * (torch.sigmoid(at) - 1) * torch.sigmoid(at) * (1 - torch.sigmoid(at)))
    return (f"Your gradient equals autograd's on {len(x):,} pixels for a from -30 to 10. At a = -20 it is "
            f"{stroke:.1e} for a white stroke pixel: Adam's steps do not depend on the gradient's size, so a "
            f"saturated sigmoid stays saturated (the freeze of the faithful port).")


def _period2_energy(out: torch.Tensor) -> float:
    """Share of the non-constant Fourier power of the central 20x20 pixels at the checkerboard frequencies."""
    centre = out[:, 0, 4:24, 4:24].double()
    centre = centre - centre.mean((1, 2), keepdim=True)
    power = torch.fft.fft2(centre).abs().pow(2)
    checker = power[:, 10, 0] + power[:, 0, 10] + power[:, 10, 10]
    return float((checker / power.sum((1, 2)).clamp_min(1e-20)).mean())


def _constant_weights(module: nn.Module) -> None:
    """Every (transposed) convolution gets equal weights summing to about 1 per output, and no bias."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            w = layer.weight
            fan = w[0].numel() if isinstance(layer, nn.Conv2d) else w.shape[0] * w.shape[2] * w.shape[3]
            nn.init.constant_(w, 1.0 / fan)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def _digit_features(n: int = 16) -> torch.Tensor:
    """Real decoder-shaped input: ``n`` MNIST test digits averaged down to 7x7 (4x4 blocks), copied to 64 maps."""
    return F.avg_pool2d(images("mnist", "test", n), 4).repeat(1, 64, 1, 1)


def _upsample_reference() -> nn.Module:
    """The checkerboard-free decoder of the original: upsample x2 then a 3x3 convolution, twice."""
    return nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(64, 32, 3, padding=1), nn.ReLU(),
                         nn.Upsample(scale_factor=2), nn.Conv2d(32, 1, 3, padding=1), nn.Sigmoid())


def _equal_weight_output(decoder: nn.Module, features: torch.Tensor) -> torch.Tensor:
    probe = copy.deepcopy(decoder).eval()
    _constant_weights(probe)
    with torch.no_grad():
        return probe(features)


@exercise("4.3", "my_transposed_decoder")
def check_checkerboard_decoder(answer: Any) -> str:
    """Exercise 4.3: ``my_transposed_decoder()`` builds a (N, 64, 7, 7) -> (N, 1, 28, 28) decoder that paints a
    checkerboard: with equal weights, on 16 real MNIST digits averaged down to 7x7 and copied to 64 maps, its
    output has period-2 energy (an upsample + convolution decoder, and the digits themselves, have almost none)."""
    decoder = call(answer)
    if not isinstance(decoder, nn.Module):
        raise NotYet(f"your function returned {describe(decoder)}, not a network.",
                     hint="return the module, for example nn.Sequential(nn.ConvTranspose2d(64, 32, 3, stride=2, ...), "
                          "nn.ReLU(), ...).")
    transposed = [m for m in decoder.modules() if isinstance(m, nn.ConvTranspose2d)]
    if not transposed:
        raise NotYet("your decoder has no nn.ConvTranspose2d layer.",
                     hint="this exercise is about transposed convolutions: grow 7x7 to 14x14 to 28x28 with "
                          "nn.ConvTranspose2d(..., kernel_size=3, stride=2, padding=1, output_padding=1).")
    features = _digit_features()
    try:
        raw = _equal_weight_output(decoder, features)
    except Exception as exc:
        raise NotYet(f"your decoder raised {type(exc).__name__} on an input of shape {tuple(features.shape)}.",
                     hint="the input is 64 feature maps of 7x7 (the decoder's reshaped Dense output): the first layer "
                          "needs in_channels=64.") from None
    size_hint = ("two stride-2 layers take 7 to 28 when each doubles the size: out = (in - 1) * stride - 2 * padding "
                 "+ kernel + output_padding, so kernel 3, padding 1 needs output_padding=1.")
    n = len(features)
    out = as_tensor(raw, (n, 1, 28, 28), what="your decoder's output",
                    shape_hints={(n, 1, 25, 25): size_hint, (n, 1, 26, 26): size_hint, (n, 1, 27, 27): size_hint})
    energy = _period2_energy(out)
    if energy < 0.05:
        even = all(m.kernel_size[0] % m.stride[0] == 0 for m in transposed)
        hint = ("a kernel size that is a multiple of the stride (2 or 4 with stride 2) covers every output pixel "
                "equally often: no checkerboard. Use kernel_size=3 with stride=2." if even else
                "use stride-2 transposed convolutions with kernel_size=3 to grow the image, and keep them as the "
                "last layers that change the size.")
        raise NotYet("your decoder paints no checkerboard.",
                     expected="period-2 energy above 0.05 on the 16 digits", got=f"{energy:.3f}", hint=hint)
    reference = _period2_energy(_equal_weight_output(_upsample_reference(), features))
    digits = _period2_energy(images("mnist", "test", n))
    return (f"With equal weights, on {n} real digits averaged down to 7x7, {energy:.0%} of your decoder's output "
            f"variation sits at the checkerboard frequencies; an upsample + 3x3 convolution decoder puts "
            f"{reference:.2%} there, the digits themselves {digits:.2%}. Kernels of 3 placed every 2 pixels overlap "
            f"unevenly; a trained decoder has to learn weights that cancel it.")


__all__ = ["check_checkerboard_decoder", "check_conv_output_size", "check_sigmoid_gradient"]
