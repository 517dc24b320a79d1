"""All of aenb's benchmarks in one command; writes ``results/benchmarks.json``.

    python benchmarks/run.py               # throughput + slider latency on this machine's best device
    python benchmarks/run.py --device cpu  # the same, forced to the CPU

* training throughput of ``fit`` against the seed-style pipeline (benchmarks/throughput.py),
  with the test MSE of each variant after a few epochs (an acceleration must not change
  the result by more than 2%);
* slider latency of the latent explorer, median and worst of 100 events
  (benchmarks/slider_latency.py);
* full-mode wall time of each notebook, as the notebooks measured and recorded it in
  ``results/<notebook>.json`` (``seconds``, with the device it ran on).

Results are stored per device (``"cpu"``, ``"cuda (NVIDIA H100 80GB HBM3)"``...), so a GPU
run and a CPU run live side by side; ``python -m aenb.results`` then rebuilds the README
tables from this file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import throughput  # noqa: E402

from aenb.device import device_name, get_device  # noqa: E402
from aenb.paths import atomic_write, output_dir  # noqa: E402
from aenb.results import load_results  # noqa: E402


def notebook_seconds() -> dict[str, dict]:
    """Full-mode wall time of each notebook, from the results files the notebooks wrote."""
    return {stem: {"seconds": r.get("seconds"), "device": r.get("device")} for stem, r in load_results().items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run every aenb benchmark and record it in results/benchmarks.json")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    parser.add_argument("--quality-epochs", type=int, default=3, help="epochs for the plain-vs-fast MSE check")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per pipeline and model (median)")
    parser.add_argument("--only", default=None, help="only models whose name matches this regular expression")
    parser.add_argument("--skip-slider", action="store_true", help="skip the slider latency (no ipywidgets)")
    parser.add_argument("--out", type=Path, default=output_dir("results", "full") / "benchmarks.json")
    args = parser.parse_args(argv)

    device = get_device(args.device)
    section = {"throughput": throughput.run(device, quality_epochs=args.quality_epochs, only=args.only,
                                            repeats=args.repeats)}
    if not args.skip_slider:
        import slider_latency  # needs ipywidgets; a GPU box without Jupyter can skip it

        section["slider_latency_ms"] = slider_latency.measure(100)
    section["torch"] = torch.__version__
    record = json.loads(args.out.read_text()) if args.out.exists() else {}
    previous = record.setdefault("devices", {}).get(device_name(device), {})
    if args.only and previous:  # a partial run updates its models and keeps the others
        models = {**previous["throughput"]["models"], **section["throughput"]["models"]}
        section = {**previous, **section, "throughput": {**section["throughput"], "models": models}}
    record["devices"][device_name(device)] = section
    record["notebook_seconds"] = notebook_seconds()
    text = json.dumps(record, indent=2) + "\n"
    atomic_write(args.out, lambda tmp: tmp.write_text(text))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
