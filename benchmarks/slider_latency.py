"""How long one slider event of :class:`aenb.widgets.LatentExplorer` and ``NoiseExplorer`` takes.

A slider sends an event for every step it is dragged; if handling one takes longer than
~50 ms the image lags behind the hand. This script times the whole Python side of an
event -- ``slider.value = v`` -> ``observe`` callback -> decode -> PNG(s) -> marker ->
text -- for two explorers on the 10,000 MNIST test codes:

* ``3d``: notebook 01's 784-128-64-12-3 model (its full-mode checkpoint if present,
  else an untrained model of the same shape: the cost does not depend on the weights),
  with the nearest test image shown beside the decoded one;
* ``2d``: a 784-128-64-12-2 model, which adds the scatter with the moving marker;
* ``noise``: notebook 05's noise slider with its four denoisers (untrained: same cost), each
  event re-noising a digit and running all four models on it.

Run ``python benchmarks/slider_latency.py``; ``measure(n)`` returns the numbers for
``benchmarks/run.py``. Transport to the browser is not included (it is local, and
asynchronous to the kernel).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any

import torch

from aenb.checkpoints import load_checkpoint
from aenb.data import load_dataset
from aenb.models import FastDenoiser, MLPAutoencoder, OriginalDenoiser
from aenb.paths import output_dir
from aenb.widgets import LatentExplorer, NoiseExplorer

TARGET_MS = 50.0
Z3 = [784, 128, 64, 12, 3]


def _model_z3() -> tuple[MLPAutoencoder, str]:
    path = output_dir("checkpoints", "full") / "01_mlp_autoencoder_z3.pt"
    try:
        model, _ = load_checkpoint(path, MLPAutoencoder, sizes=Z3)
        return model, f"checkpoint {path.name}"
    except FileNotFoundError:
        torch.manual_seed(0)
        return MLPAutoencoder(sizes=Z3).eval(), "untrained (no checkpoint)"


def _time_events(sliders: list[Any], n: int) -> list[float]:
    """Per-event wall times in ms: the sliders take turns sweeping their range back and forth."""
    times = []
    for k in range(n):
        slider = sliders[k % len(sliders)]
        phase = (k // len(sliders)) / 10 % 2  # 0..2, a triangle wave
        fraction = 0.05 + 0.9 * (phase if phase <= 1 else 2 - phase)
        value = slider.min + fraction * (slider.max - slider.min)
        if value == slider.value:  # an unchanged value fires no event; nudge it
            value += slider.step
        start = time.perf_counter()
        slider.value = value
        times.append((time.perf_counter() - start) * 1e3)
    return times


def measure(n: int = 100) -> dict[str, Any]:
    """Median and worst milliseconds per slider event: 3-d and 2-d latent explorers, noise slider."""
    test = load_dataset("mnist", "test")
    model3, source = _model_z3()
    torch.manual_seed(0)
    model2 = MLPAutoencoder(sizes=Z3[:-1] + [2]).eval()
    denoisers = {"mlp": MLPAutoencoder((784, 64), "relu", code_activation=True),
                 "mlp_deep": MLPAutoencoder((784, 256, 64), "relu"), "seed": OriginalDenoiser(), "ours": FastDenoiser()}
    explorers = {}
    for key, model, note in (("3d", model3, source), ("2d", model2, "untrained, scatter + marker")):
        with torch.inference_mode():
            codes = model.encode(test.images)
        explorer = LatentExplorer(model.decode, model.latent_dim, codes=codes, labels=test.labels,
                                  class_names=test.classes, images=test.images)
        explorers[key] = (explorer.sliders, note)
    noise = NoiseExplorer(test.images[:10], denoisers)
    explorers["noise"] = ([noise.factor_slider], "notebook 05's four denoisers, untrained")
    results: dict[str, Any] = {}
    for key, (sliders, note) in explorers.items():
        times = _time_events(sliders, n)
        results[key] = {
            "model": note,
            "events": n,
            "median_ms": round(statistics.median(times), 2),
            "p95_ms": round(sorted(times)[int(0.95 * (len(times) - 1))], 2),
            "worst_ms": round(max(times), 2),
            "target_ms": TARGET_MS,
        }
    return results


def main() -> int:
    results = measure()
    ok = True
    for key, r in results.items():
        passed = r["median_ms"] <= TARGET_MS and r["worst_ms"] <= TARGET_MS
        ok &= passed
        print(f"{key} explorer ({r['model']}): {r['events']} slider events, median {r['median_ms']:.2f} ms, "
              f"95th percentile {r['p95_ms']:.2f} ms, worst {r['worst_ms']:.2f} ms "
              f"(target <= {TARGET_MS:g} ms: {'ok' if passed else 'MISSED'})")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load average {load} (other jobs inflate the worst case)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
