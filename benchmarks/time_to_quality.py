"""Time to quality for the convolutional models of notebooks 04 and 05, on this machine's CPU.

The question a laptop reader asks is not "how fast is one epoch" but "how long until the
model is as good as the original's". For each notebook the target is **the original recipe's
quality on the validation split**, at the epoch its own recipe keeps; each recipe's time to
quality is the training time (CPU seconds, the per-epoch scoring not timed) to its first epoch
whose *validation* score reaches that target, and we report that epoch's *test* score beside it:
the stopping rule looks at validation data only, as any choice must.

``conv`` -- notebook 04 (MSE of a 10-number code):

* the original recipe (Cheong's ``Chapter02/ch2_autoencoder.ipynb``: ``ConvAutoencoder(10)``,
  the MSE, RMSprop at 3e-4, batches of 256, up to 100 epochs, ``EarlyStopping(patience=5)``) is
  trained for real, with ``--retrain-original`` only (``aenb.pretrained.train_original_conv``,
  also the code-size-2 run), which rewrites the published weights ``weights/04_original_conv_z*.pt``
  that notebook 04 loads and their SHA-256 in ``weights/SHA256SUMS``. Its epochs to quality are
  the epoch ``EarlyStopping`` restored; its CPU seconds are those epochs x one CPU epoch of the
  recipe measured here (after an untimed warm-up), since the published run may have been made on
  another device (its metadata says which).
* aenb: ``FastConvAutoencoder(10)`` with notebook 04's recipe (cross-entropy, AdamW at 0.003
  with a cosine decay, batch 128), trained for real, validation and test MSE after every epoch.

``denoiser`` -- notebook 05 (mean PSNR at noise factor 0.5):

* the original recipe is trained for real, all 10 epochs (``aenb.pretrained.train_original_denoiser``,
  about 27 minutes), but only with ``--retrain-original``, which also rewrites the published
  weights ``weights/05_original_conv_denoiser.pt`` that notebook 05 loads (and their SHA-256 in
  ``weights/SHA256SUMS``, which the loader checks). Otherwise its per-epoch seconds and PSNRs
  are read from those weights' metadata, written by that run. Target: its validation PSNR after
  its 10 epochs.
* aenb: ``FastDenoiser`` with notebook 05's recipe (batch 32, Adam from 0.002 with a cosine
  decay), trained for real, validation and test PSNR after every epoch.

For every model the achieved FLOP/s is ``aenb.summary.multiply_adds`` x 2 FLOPs x 3 (forward +
backward) x images per second, as a fraction of this CPU's peak, measured as the median of five
float32 4096 x 4096 matrix products (2 * 4096^3 FLOPs each).

Timings depend on the load: run it alone. ``python benchmarks/time_to_quality.py conv`` (about
5 minutes on 2 idle cores; with ``--retrain-original`` add the original's runs: about an hour on
that CPU, a few minutes on a GPU with ``--device cuda --retrain-only``) or ``... denoiser`` (about
4 minutes; 35 with ``--retrain-original``) updates its entry of ``results/time_to_quality.json``;
``tools/readme_tables.py`` turns that file into the README's table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from aenb.callbacks import ScoreEachEpoch
from aenb.checkpoints import save_checkpoint
from aenb.data import load_dataset
from aenb.device import seed_everything
from aenb.inference import reconstruct
from aenb.metrics import psnr
from aenb.models import ConvAutoencoder, FastConvAutoencoder, FastDenoiser, OriginalDenoiser
from aenb.noise import add_noise, noisy_inputs
from aenb.paths import atomic_write, shown
from aenb.pretrained import (
    ORIGINAL_CONV_RECIPES,
    ORIGINAL_CONV_WEIGHTS,
    ORIGINAL_DENOISER_RECIPE,
    ORIGINAL_DENOISER_WEIGHTS,
    RETRAIN_ORIGINAL_CONV,
    original_conv,
    original_conv_optimizer,
    original_denoiser,
    record_digest,
    train_original_conv,
    train_original_denoiser,
)
from aenb.summary import multiply_adds
from aenb.training import bce_loss, evaluate, fit

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "time_to_quality.json"

# Notebook 04: the first 54,000 training images train, the last 6,000 validate.
CONV_TRAIN = 54_000
CONV_BATCH = 128

# Notebook 05: the last 1,000 training images are its validation split; its test noise has seed 1.
DENOISER_TRAIN, DENOISER_VAL = 59_000, 1_000
NOISE, TEST_NOISE_SEED, VAL_NOISE_SEED = 0.5, 1, 3
DENOISER_EPOCHS = 3                # notebook 05's OUR_EPOCHS


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


def first_reaching(rows: list[dict], key: str, target: float, higher_is_better: bool) -> dict | None:
    """The first row whose ``key`` reaches ``target`` (None if none does)."""
    return next((r for r in rows if (r[key] >= target if higher_is_better else r[key] <= target)), None)


def flops_entry(model: torch.nn.Module, seconds_per_epoch: float, images: int, peak: float) -> dict:
    macs = multiply_adds(model)
    achieved = macs * 2 * 3 * images / seconds_per_epoch
    return {"multiply_adds_per_image": macs, "train_seconds_per_epoch": round(seconds_per_epoch, 2),
            "achieved_gflops": round(achieved / 1e9, 2), "fraction_of_peak": round(achieved / peak, 4)}


def conv_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Notebook 04's training, validation and test images (full MNIST)."""
    train = load_dataset("mnist", "train").images
    return train[:CONV_TRAIN], train[CONV_TRAIN:], load_dataset("mnist", "test").images


def mse_scores(val: torch.Tensor, test: torch.Tensor) -> dict:
    """The per-epoch scores of notebook 04's runs: validation and test MSE."""
    return {"val_mse": lambda m: evaluate(m, val)["loss"], "test_mse": lambda m: evaluate(m, test)["loss"]}


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (float32, TF32 off), torch {torch.__version__}"
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads, torch {torch.__version__}"


def retrain_original_conv(device: torch.device) -> None:
    """Train the original recipe for each published code size and publish the weights, with the per-epoch scores."""
    train, val, test = conv_data()
    if device.type == "cuda":  # the original trains in float32 (Keras' default); no TF32 shortcuts
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    for latent_dim, path in ORIGINAL_CONV_WEIGHTS.items():
        probe = ScoreEachEpoch(mse_scores(val, test), len(train))
        # speedups off on CUDA: they would train in bf16; the original trains in float32
        model, history, stop = train_original_conv(latent_dim, train, val, device=device, callbacks=[probe],
                                                   speedups=device.type != "cuda", verbose=False)
        model = model.cpu()
        meta = {"recipe": dict(ORIGINAL_CONV_RECIPES[latent_dim]), "latent_dim": latent_dim, "epochs": len(history),
                "best_epoch": stop.best_epoch + 1, "stopped_early": stop.stopped_epoch > 0,
                "val_mse": round(evaluate(model, val)["loss"], 5), "test_mse": round(evaluate(model, test)["loss"], 5),
                "train_images": len(train), "validation_images": len(val), "per_epoch": probe.rows,
                "train_loss": [round(v, 5) for v in history["loss"]],
                "how": RETRAIN_ORIGINAL_CONV + (" --device cuda --retrain-only" if device.type == "cuda" else ""),
                "measured_on": describe_device(device), "date": time.strftime("%Y-%m-%d")}
        save_checkpoint(model, path, metadata=meta)
        record_digest(path)  # weights/SHA256SUMS: original_conv() checks the file against it
        print(f"04 original recipe, code size {latent_dim}: {len(history)} epochs, best epoch {meta['best_epoch']}, "
              f"val MSE {meta['val_mse']}, test MSE {meta['test_mse']}, {probe.rows[-1]['train_seconds']} s "
              f"on {meta['measured_on']}; wrote {shown(path)}")


def cpu_epoch_seconds(model: torch.nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor,
                      batch_size: int, loss: str) -> float:
    """Seconds of one training epoch over ``images`` on the CPU, after an untimed warm-up of 20 steps."""
    fit(model, images[:batch_size * 20], epochs=1, batch_size=batch_size, loss=loss, optimizer=optimizer,
        verbose=False)
    return fit(model, images, epochs=1, batch_size=batch_size, loss=loss, optimizer=optimizer, verbose=False,
               generator=torch.Generator().manual_seed(0)).seconds


def conv(peak: float, epochs: int) -> dict:
    """Notebook 04: the published original run's best epoch x a measured CPU epoch, against FastConvAutoencoder."""
    train, val, test = conv_data()
    _, meta = original_conv(10)
    recipe = meta["recipe"]
    torch.manual_seed(0)
    probe_model = ConvAutoencoder(10)
    orig_epoch = cpu_epoch_seconds(probe_model, original_conv_optimizer(probe_model, 10), train,
                                   recipe["batch_size"], "mse")
    print(f"04 original recipe: {orig_epoch:.1f} s per CPU epoch")
    target = meta["val_mse"]

    torch.manual_seed(0)
    ours = FastConvAutoencoder(10)  # notebook 04 keeps kernel 4 if it wins on validation (it did)
    optimizer = torch.optim.AdamW(ours.parameters(), lr=3e-3, weight_decay=1e-4)
    probe = ScoreEachEpoch(mse_scores(val, test), len(train))
    fit(ours, train, epochs=epochs, batch_size=CONV_BATCH, loss="bce", optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs), callbacks=[probe],
        generator=torch.Generator().manual_seed(0), verbose=False)
    reached = first_reaching(probe.rows, "val_mse", target, higher_is_better=False)
    original_seconds = meta["best_epoch"] * orig_epoch
    return {
        "notebook": "04", "metric": "MSE", "higher_is_better": False, "target": target,
        "target_source": f"the original recipe's validation MSE at the epoch its EarlyStopping kept (epoch "
                         f"{meta['best_epoch']} of {meta['epochs']}; the published run "
                         f"{shown(ORIGINAL_CONV_WEIGHTS[10])}, {meta['measured_on']})",
        "original_recipe": {"model": "ConvAutoencoder(10)", "seconds_per_epoch": round(orig_epoch, 2),
                            "epochs_to_quality": meta["best_epoch"], "seconds_to_quality": round(original_seconds, 1),
                            "test_at_quality": meta["test_mse"],
                            "how": "published run's kept epoch x one measured CPU epoch"},
        "aenb_recipe": {"model": "FastConvAutoencoder(10)", "epochs": epochs, "per_epoch": probe.rows,
                        "epochs_to_quality": reached and reached["epoch"],
                        "seconds_to_quality": reached and reached["train_seconds"],
                        "test_at_quality": reached and reached["test_mse"], "how": "trained for real"},
        "speedup": round(original_seconds / reached["train_seconds"], 1) if reached else None,
        "flops": {"original": flops_entry(ConvAutoencoder(10), orig_epoch, len(train), peak),
                  "aenb": flops_entry(FastConvAutoencoder(10), probe.rows[-1]["train_seconds"] / epochs,
                                      len(train), peak)},
    }


def denoiser(peak: float, epochs: int, retrain_original: bool) -> dict:
    """Notebook 05: the original recipe's 10 epochs (published run, or retrained) against FastDenoiser."""
    mnist = load_dataset("mnist", "train").images
    train, val = mnist[:DENOISER_TRAIN], mnist[DENOISER_TRAIN:DENOISER_TRAIN + DENOISER_VAL]
    test = load_dataset("mnist", "test").images
    val_noisy = add_noise(val, NOISE, generator=torch.Generator().manual_seed(VAL_NOISE_SEED))
    test_noisy = add_noise(test, NOISE, generator=torch.Generator().manual_seed(TEST_NOISE_SEED))
    scores = {"val_psnr_db": lambda m: float(psnr(reconstruct(m, val_noisy), val).mean()),
              "test_psnr_db": lambda m: float(psnr(reconstruct(m, test_noisy), test).mean())}

    if retrain_original:
        probe = ScoreEachEpoch(scores, len(train))
        model, history = train_original_denoiser(train, callbacks=[probe], verbose=False)
        final = probe.rows[-1]
        save_checkpoint(model, ORIGINAL_DENOISER_WEIGHTS, metadata={
            "recipe": dict(ORIGINAL_DENOISER_RECIPE), "epochs": len(history), "train_images": len(train),
            "test_psnr_db": final["test_psnr_db"], "val_psnr_db": final["val_psnr_db"], "per_epoch": probe.rows,
            "how": "python benchmarks/time_to_quality.py denoiser --retrain-original",
            "measured_on": f"{platform.machine()} CPU, {torch.get_num_threads()} threads, torch {torch.__version__}",
            "date": time.strftime("%Y-%m-%d")})
        record_digest(ORIGINAL_DENOISER_WEIGHTS)  # weights/SHA256SUMS: original_denoiser() checks the file against it
        print(f"05 original recipe retrained: test PSNR {final['test_psnr_db']:.2f} dB after {len(history)} epochs, "
              f"{final['train_seconds']:.0f} s; wrote {ORIGINAL_DENOISER_WEIGHTS}")
    _, meta = original_denoiser()
    orig_rows = meta["per_epoch"]
    target = orig_rows[-1]["val_psnr_db"]
    orig_reached = first_reaching(orig_rows, "val_psnr_db", target, higher_is_better=True)

    seed_everything(0)
    ours = FastDenoiser()
    probe = ScoreEachEpoch(scores, len(train))
    optimizer = torch.optim.Adam(ours.parameters(), lr=2e-3)
    fit(ours, train, epochs=epochs, batch_size=32, loss=bce_loss, optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs),
        input_transform=noisy_inputs(NOISE), callbacks=[probe], generator=seed_everything(0), verbose=False)
    for row in probe.rows:
        print(f"05 aenb recipe: epoch {row['epoch']}, {row['train_seconds']:6.1f} s, "
              f"test PSNR {row['test_psnr_db']:.2f} dB")
    reached = first_reaching(probe.rows, "val_psnr_db", target, higher_is_better=True)
    orig_epoch = orig_rows[-1]["train_seconds"] / len(orig_rows)
    return {
        "notebook": "05", "metric": "PSNR (dB) at f = 0.5", "higher_is_better": True, "target": target,
        "target_source": f"the original recipe's final validation PSNR: OriginalDenoiser after its "
                         f"{len(orig_rows)} epochs (the run that made {shown(ORIGINAL_DENOISER_WEIGHTS)}, "
                         f"{meta['measured_on']})",
        "original_recipe": {"model": "OriginalDenoiser", "seconds_per_epoch": round(orig_epoch, 2),
                            "per_epoch": orig_rows, "epochs_to_quality": orig_reached["epoch"],
                            "seconds_to_quality": orig_reached["train_seconds"],
                            "test_at_quality": orig_reached["test_psnr_db"], "how": "trained for real"},
        "aenb_recipe": {"model": "FastDenoiser", "epochs": epochs, "per_epoch": probe.rows,
                        "epochs_to_quality": reached and reached["epoch"],
                        "seconds_to_quality": reached and reached["train_seconds"],
                        "test_at_quality": reached and reached["test_psnr_db"], "how": "trained for real"},
        "speedup": round(orig_reached["train_seconds"] / reached["train_seconds"], 1) if reached else None,
        "flops": {"original": flops_entry(OriginalDenoiser(), orig_epoch, len(train), peak),
                  "aenb": flops_entry(FastDenoiser(), probe.rows[-1]["train_seconds"] / epochs, len(train), peak)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("which", choices=["conv", "denoiser"], help="notebook 04's models or notebook 05's")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of the aenb recipe (04: 12, 05: 3)")
    parser.add_argument("--retrain-original", action="store_true",
                        help="train the original recipe (04: both code sizes; 05: its 10 epochs) and rewrite the "
                             "published weights")
    parser.add_argument("--retrain-only", action="store_true",
                        help="conv: only retrain and publish the original's weights (e.g. on a GPU), no CPU timing")
    parser.add_argument("--device", default="cpu", help="conv --retrain-original: where the original trains")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.which == "conv" and (args.retrain_original or args.retrain_only):
        retrain_original_conv(torch.device(args.device))
        if args.retrain_only:
            return
    peak = peak_flops()
    print(f"peak: {peak / 1e9:.1f} GFLOP/s (float32 4096^2 matmul, median of 5), {torch.get_num_threads()} threads")
    if args.which == "conv":
        entry = conv(peak, args.epochs or 12)
    else:
        entry = denoiser(peak, args.epochs or DENOISER_EPOCHS, args.retrain_original)
    entry.update({"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                  "torch": torch.__version__, "peak_gflops_matmul_4096": round(peak / 1e9, 2),
                  "date": time.strftime("%Y-%m-%d")})
    everything = json.loads(args.out.read_text()) if args.out.exists() else {}
    everything[f"{entry['notebook']}_{args.which}"] = entry
    atomic_write(args.out, lambda tmp: tmp.write_text(json.dumps(everything, indent=2) + "\n"))
    for name, f in entry["flops"].items():
        print(f"{name}: {f['multiply_adds_per_image'] / 1e6:.2f} M multiply-adds/image, "
              f"{f['achieved_gflops']:.1f} GFLOP/s = {f['fraction_of_peak']:.1%} of peak")
    print(f"time to {entry['metric']} {entry['target']}: original {entry['original_recipe']['seconds_to_quality']} s, "
          f"aenb {entry['aenb_recipe']['seconds_to_quality']} s; speedup {entry['speedup']}x; wrote {args.out}")


if __name__ == "__main__":
    main()
