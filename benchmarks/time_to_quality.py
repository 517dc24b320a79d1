"""Time to quality for notebook 04's convolutional autoencoders, on this machine's CPU.

The question a laptop reader asks is not "how fast is one epoch" but "how long until the
model is as good as the original's". For notebook 04 the target is the original recipe's final
quality: **test MSE 0.01133**, reached by the original's model (``ConvAutoencoder(10)``,
the Keras-style model of notebook 04) after 120 epochs of its recipe (MSE, Adam with a
warm-up to 0.0005 and halvings on plateaus, batch 128), in the 120-epoch GPU run recorded in
``results/04_conv_autoencoder.json`` before notebook 04 moved to the CPU.

Method (all on the CPU, same training images -- the first 54,000 of MNIST's 60,000 -- and the
same 10,000 test images):

* **original recipe**: we measure one epoch of ``ConvAutoencoder(10)`` with ``aenb.training.fit``
  (same model, batch, optimizer, channels-last) after one untimed warm-up epoch; its CPU time
  to quality is ``ORIGINAL_EPOCHS_TO_QUALITY`` (120: the recipe reaches 0.01133 only at its end;
  its validation loss first reached 0.01133 at epoch 93, so 93 is a lower bound, also reported)
  times those seconds per epoch. Running the 120 epochs themselves would take about two hours.
* **aenb recipe**: notebook 04's ``FastConvAutoencoder`` with its recipe (cross-entropy,
  AdamW at 0.003 with a cosine decay, batch 128), trained for real; after every epoch the test
  MSE is measured (outside the timed training) and the cumulative training seconds at the
  first epoch with test MSE <= 0.01133 is its time to quality.
* **achieved FLOP/s**: ``aenb.summary.multiply_adds`` x 2 FLOPs x 3 (forward + backward) x images
  per second, as a fraction of this CPU's peak, measured as the median of five float32
  4096 x 4096 matrix products (2 * 4096^3 FLOPs each).

Timings depend on the load: run it alone (``python benchmarks/time_to_quality.py``); it writes
``results/time_to_quality.json``. Takes about 5 minutes on 2 idle cores.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from pathlib import Path

import torch

from aenb.callbacks import Callback
from aenb.data import load_dataset
from aenb.models import ConvAutoencoder
from aenb.models.conv import FastConvAutoencoder
from aenb.summary import multiply_adds
from aenb.training import evaluate, fit

ROOT = Path(__file__).resolve().parents[1]
TARGET_TEST_MSE = 0.01133          # the original recipe's final quality (120 epochs, earlier GPU run)
ORIGINAL_EPOCHS_TO_QUALITY = 120   # its test MSE is known only at the end of its 120 epochs
ORIGINAL_EPOCHS_VAL_LOWER_BOUND = 93  # first epoch its val_loss reached 0.01133 in that run
N_TRAIN = 54_000                   # notebook 04: the last 10 % of the 60,000 are validation
BATCH_SIZE = 128


def peak_flops(n: int = 4096, repeats: int = 5) -> float:
    """float32 FLOP/s of a large matrix product: the CPU's practical peak."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times)


def seconds_per_epoch_original(train: torch.Tensor) -> float:
    """One timed epoch of the original recipe's model and optimizer (after an untimed warm-up epoch)."""
    torch.manual_seed(0)
    model = ConvAutoencoder(10)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4)
    fit(model, train[:BATCH_SIZE * 20], epochs=1, batch_size=BATCH_SIZE, optimizer=optimizer, verbose=False)
    history = fit(model, train, epochs=1, batch_size=BATCH_SIZE, optimizer=optimizer, verbose=False,
                  generator=torch.Generator().manual_seed(0))
    return history.seconds


class _TestEachEpoch(Callback):
    """Test MSE after every epoch, and fit's cumulative training seconds without these evaluations."""

    def __init__(self, test: torch.Tensor) -> None:
        self.test, self.rows, self.eval_seconds, self.start = test, [], 0.0, None

    def on_train_begin(self, logs=None) -> None:
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        t = time.perf_counter()
        mse = evaluate(self.model, self.test)["loss"]
        self.rows.append({"epoch": epoch + 1, "train_seconds": round(t - self.start - self.eval_seconds, 1),
                          "test_mse": round(mse, 5)})
        self.eval_seconds += time.perf_counter() - t


def aenb_recipe(train: torch.Tensor, test: torch.Tensor, epochs: int) -> list[dict]:
    """Notebook 04's recipe for FastConvAutoencoder(10), with the test MSE after each epoch."""
    torch.manual_seed(0)
    model = FastConvAutoencoder(10)  # notebook 04 keeps kernel 4 if it wins on validation (it did)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    probe = _TestEachEpoch(test)
    fit(model, train, epochs=epochs, batch_size=BATCH_SIZE, loss="bce", optimizer=optimizer, scheduler=scheduler,
        callbacks=[probe], generator=torch.Generator().manual_seed(0), verbose=False)
    return probe.rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=12, help="epochs of the aenb recipe (notebook 04: 12)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "time_to_quality.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    train = load_dataset("mnist", "train").images[:N_TRAIN]
    test = load_dataset("mnist", "test").images
    peak = peak_flops()
    print(f"peak: {peak / 1e9:.1f} GFLOP/s (float32 4096^2 matmul, median of 5), {torch.get_num_threads()} threads")

    orig_epoch = seconds_per_epoch_original(train)
    print(f"original recipe: {orig_epoch:.1f} s per epoch on the CPU")
    rows = aenb_recipe(train, test, args.epochs)
    for row in rows:
        print(f"aenb recipe: epoch {row['epoch']:2d}, {row['train_seconds']:7.1f} s, test MSE {row['test_mse']:.5f}")
    reached = next((r for r in rows if r["test_mse"] <= TARGET_TEST_MSE), None)
    aenb_epoch = rows[-1]["train_seconds"] / len(rows)

    models = {"original ConvAutoencoder(10)": (ConvAutoencoder(10), orig_epoch),
              "aenb FastConvAutoencoder(10)": (FastConvAutoencoder(10), aenb_epoch)}
    flops = {}
    for name, (model, seconds) in models.items():
        macs = multiply_adds(model)
        achieved = macs * 2 * 3 * N_TRAIN / seconds
        flops[name] = {"multiply_adds_per_image": macs, "train_seconds_per_epoch": round(seconds, 2),
                       "achieved_gflops": round(achieved / 1e9, 2), "fraction_of_peak": round(achieved / peak, 4)}
        print(f"{name}: {macs / 1e6:.2f} M multiply-adds/image, {achieved / 1e9:.1f} GFLOP/s = {achieved / peak:.1%} of peak")

    original_seconds = ORIGINAL_EPOCHS_TO_QUALITY * orig_epoch
    result = {
        "target_test_mse": TARGET_TEST_MSE,
        "target_source": "original recipe's final test MSE: ConvAutoencoder(10), 120 epochs, earlier GPU run of notebook 04",
        "method": "original: epochs to quality x measured CPU seconds per epoch; aenb: trained for real, "
                  "cumulative training seconds at the first epoch with test MSE <= target (test evaluation not timed)",
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "peak_gflops_matmul_4096": round(peak / 1e9, 2),
        "original_recipe": {"seconds_per_epoch": round(orig_epoch, 2), "epochs_to_quality": ORIGINAL_EPOCHS_TO_QUALITY,
                            "seconds_to_quality": round(original_seconds, 1),
                            "seconds_to_quality_val_lower_bound": round(ORIGINAL_EPOCHS_VAL_LOWER_BOUND * orig_epoch, 1)},
        "aenb_recipe": {"epochs": args.epochs, "per_epoch": rows,
                        "epochs_to_quality": reached["epoch"] if reached else None,
                        "seconds_to_quality": reached["train_seconds"] if reached else None},
        "speedup": round(original_seconds / reached["train_seconds"], 1) if reached else None,
        "speedup_vs_val_lower_bound": (round(ORIGINAL_EPOCHS_VAL_LOWER_BOUND * orig_epoch / reached["train_seconds"], 1)
                                       if reached else None),
        "flops": flops,
        "note": "measured under whatever load the machine had; rerun alone for clean numbers",
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"time to quality: original {original_seconds:.0f} s, aenb "
          f"{reached['train_seconds'] if reached else 'not reached'} s; speedup {result['speedup']}x; wrote {args.out}")


if __name__ == "__main__":
    main()
