"""Training throughput of aenb's ``fit`` against the seed-style pipeline, model by model.

"Seed-style" is what the tutorials this series grew from do (the Keras-blog ports,
pytorch/examples): ``DataLoader(torchvision MNIST, transform=ToTensor())``, each batch
converted from PIL images on the fly and copied to the device, ``loss.item()`` read after
every step. aenb's ``fit`` trains the same model with the same batch size and optimizer
(Adam, lr 1e-3) from device-resident tensors (see aenb/training.py for what else it does).

For each model and pipeline: one warm-up epoch, then the median of ``repeats`` timed
epochs over the 60,000 training images (for ``fit``: epochs 2, 3, ... of one run, so graph
capture and first-call costs are excluded as the seed-style warm-up excludes them);
samples per second = 60,000 / seconds. Run it alone::

    python benchmarks/throughput.py            # every model, this machine's best device
    python benchmarks/throughput.py --quality  # also: test MSE after a few epochs, plain vs fast
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from aenb.callbacks import Callback
from aenb.data import data_dir, load_dataset
from aenb.device import device_name, get_device, seed_everything
from aenb.metrics import reconstruction_mse
from aenb.models import VAE, ConvAutoencoder, FastDenoiser, MLPAutoencoder, OriginalDenoiser
from aenb.models.vae import VAELoss
from aenb.noise import noisy_inputs
from aenb.training import bce_loss, fit, mse_loss


@dataclass
class Case:
    """A notebook model and how it is trained there."""

    name: str
    notebook: str
    build: Callable[[], nn.Module]
    batch_size: int
    loss: Callable = mse_loss
    input_transform: Callable[[torch.Tensor], torch.Tensor] | None = None  # e.g. noise for a denoiser


def cases() -> list[Case]:
    """Every model the notebooks train (more are added as notebooks land)."""
    found = [
        Case("mlp_ae_784-128-64-12-3", "01, 02", lambda: MLPAutoencoder((784, 128, 64, 12, 3), "tanh"), 100),
        Case("shallow_ae_784-64-784", "01", lambda: MLPAutoencoder((784, 64), "relu", code_activation=True), 100),
        Case("vae_784-400-20_bce", "03", lambda: VAE((784, 400, 20)), 128, VAELoss("bce")),
        Case("vae_784-256-2_half_sse", "03", lambda: VAE((784, 256, 2)), 128, VAELoss("half_sse")),
        # The post's layers (its extra 32 -> 32 convolution at 28x28), as measured in results/benchmarks.json;
        # notebook 04's original (the book's layers) costs 5.9 M multiply-adds per image, these 13.1 M.
        Case("conv_ae_z10_upsample", "04", lambda: ConvAutoencoder(10, "upsample", extra_conv=True), 128),
        Case("conv_ae_z10_transpose", "04", lambda: ConvAutoencoder(10, "transpose", extra_conv=True), 128),
        Case("dae_seed_conv", "05", OriginalDenoiser, 128, bce_loss, noisy_inputs(0.5)),
        Case("dae_fast_conv", "05", FastDenoiser, 32, bce_loss, noisy_inputs(0.5)),
        Case("dae_mlp_784-64-784", "05", lambda: MLPAutoencoder((784, 64), "relu", code_activation=True), 128,
             bce_loss, noisy_inputs(0.5)),
    ]
    return found


class EpochTimer(Callback):
    """Wall time of each epoch's training steps (fit reads its losses once per epoch, which
    synchronises with the GPU, so on_epoch_end sees the work done)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        _sync(self.device)
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        _sync(self.device)
        self.seconds.append(time.perf_counter() - self._start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def seed_style_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                     loss_fn: Callable, device: torch.device,
                     input_transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> float:
    """One epoch the way the seed tutorials write it; returns seconds."""
    model.train()
    _sync(device)
    start = time.perf_counter()
    train_loss = 0.0
    for images, _ in loader:
        images = images.to(device)
        inputs = input_transform(images) if input_transform is not None else images
        loss = loss_fn(model(inputs), images)
        if isinstance(loss, dict):
            loss = loss["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        train_loss += loss.item()
    _sync(device)
    return time.perf_counter() - start


def measure_case(case: Case, device: torch.device, train_images: torch.Tensor, *,
                 variants: dict[str, dict], repeats: int = 3) -> dict:
    """Samples/s of the seed-style loop and of each ``fit`` variant (kwargs for fit).

    Each figure is the median over ``repeats`` timed epochs, after one warm-up epoch:
    timings on a shared machine are noisy, and a median of several is what we quote.
    """
    n = len(train_images)
    out: dict[str, float] = {}
    seed_everything(0)
    model = case.build().to(device)
    dataset = datasets.MNIST(str(data_dir()), train=True, download=False, transform=transforms.ToTensor())
    loader = DataLoader(dataset, batch_size=case.batch_size, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    seed_style_epoch(model, loader, optimizer, case.loss, device, case.input_transform)  # warm-up
    seconds = [seed_style_epoch(model, loader, optimizer, case.loss, device, case.input_transform)
               for _ in range(repeats)]
    out["seed_style"] = n / statistics.median(seconds)
    on_device = train_images.to(device)
    for name, kwargs in variants.items():
        timer = EpochTimer(device)
        kwargs = dict(kwargs)
        with _threads(kwargs.pop("threads", None)):
            fit(case.build(), on_device, epochs=1 + repeats, batch_size=case.batch_size, loss=case.loss,
                input_transform=case.input_transform, generator=seed_everything(0), device=device, verbose=False,
                callbacks=[timer], **kwargs)
        out[name] = n / statistics.median(timer.seconds[1:])  # epoch 1 is the warm-up (and graph capture)
    return out


def quality_case(case: Case, device: torch.device, train: torch.Tensor, test: torch.Tensor, *,
                 epochs: int, variants: dict[str, dict]) -> dict[str, float]:
    """Test MSE after ``epochs`` epochs with each variant, same seed."""
    result = {}
    for name, kwargs in variants.items():
        gen = seed_everything(0)
        model = case.build()
        kwargs = dict(kwargs)
        with _threads(kwargs.pop("threads", None)):
            fit(model, train, epochs=epochs, batch_size=case.batch_size, loss=case.loss,
                input_transform=case.input_transform, generator=gen, device=device, verbose=False, **kwargs)
        result[name] = reconstruction_mse(model, test.to(device))
    return result


def variants_for(device: torch.device) -> dict[str, dict]:
    """The fit configurations to compare (fit's keyword arguments, plus ``threads`` for the CPU)."""
    if device.type == "cuda":
        return {
            "fit_plain": {"speedups": False},
            "fit_fast": {},  # the defaults: graphs, fused Adam, and bf16 for conv models
        }
    return {"fit_1thread": {"threads": 1}, "fit_fast": {}}  # fit_fast: PyTorch's threads, one per core


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` intra-op CPU threads (None: leave PyTorch's choice), then put the count back."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run(device: torch.device, *, quality_epochs: int = 0, only: str | None = None, repeats: int = 3) -> dict:
    train = load_dataset("mnist", "train")
    test = load_dataset("mnist", "test")
    variants = variants_for(device)
    rows = {}
    for case in cases():
        if only and not re.search(only, case.name):
            continue
        row = {"notebook": case.notebook, "batch_size": case.batch_size,
               "samples_per_s": measure_case(case, device, train.images, variants=variants, repeats=repeats)}
        row["speedup"] = {k: v / row["samples_per_s"]["seed_style"] for k, v in row["samples_per_s"].items()}
        if quality_epochs:
            row["test_mse_after"] = quality_epochs
            row["test_mse"] = quality_case(case, device, train.images.to(device), test.images,
                                           epochs=quality_epochs, variants=variants)
        rows[case.name] = row
        print(f"{case.name:28s} " + "  ".join(f"{k} {v:9.0f}/s ({row['speedup'][k]:.1f}x)"
                                               for k, v in row["samples_per_s"].items()), flush=True)
        if quality_epochs:
            print(" " * 29 + "test MSE " + "  ".join(f"{k} {v:.5f}" for k, v in row["test_mse"].items()), flush=True)
    return {"device": device_name(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "repeats": repeats, "models": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    parser.add_argument("--quality", type=int, default=0, metavar="EPOCHS",
                        help="also train EPOCHS epochs per variant and compare test MSE")
    parser.add_argument("--only", default=None, help="only models whose name matches this regular expression")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per pipeline (median)")
    parser.add_argument("--out", default=None, help="write the JSON here")
    args = parser.parse_args()
    result = run(get_device(args.device), quality_epochs=args.quality, only=args.only, repeats=args.repeats)
    text = json.dumps(result, indent=2)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
