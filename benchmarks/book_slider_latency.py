"""How long one slider event of a live explorer takes in the static book (``make book``).

The book runs each stored decoder in the page (onnxruntime-web, WebAssembly, one thread). This
script builds the book (or takes a built one), opens every page with live explorers from disk
in Debian's headless Chromium, and times 100 slider events per explorer: from the ``input``
event a drag fires to the new image on the canvas (decode + pixels), measured in the page with
``performance.now()``. The sliders take turns sweeping their range, as in
benchmarks/slider_latency.py (the kernel's figures).

    python benchmarks/book_slider_latency.py [--notebooks DIR] [--decoders DIR] [--out results/benchmarks.json]

It records, under ``book`` in ``results/benchmarks.json`` (the other entries are kept), each
explorer's median, 95th percentile and worst milliseconds, the ONNX size of each decoder and the
book's total size; ``make results`` copies them into the README.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from aenb.checkpoints import read_checkpoint
from aenb.paths import ROOT, atomic_write, output_dir

sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests")]
from book_helpers import open_book_page, set_slider  # noqa: E402
from build_book import build_book  # noqa: E402
from e2e_helpers import launch_chromium  # noqa: E402

TARGET_MS = 50.0
EVENTS = 100


def sweep(n: int, sliders: int) -> list[tuple[int, float]]:
    """(slider, fraction of its range) for ``n`` events: the sliders take turns, each sweeping back and forth."""
    events = []
    for k in range(n):
        phase = (k // sliders) / 10 % 2  # 0..2, a triangle wave
        events.append((k % sliders, 0.05 + 0.9 * (phase if phase <= 1 else 2 - phase)))
    return events


def measure(book: Path, manifest: dict[str, Any], decoders: Path, n: int = EVENTS) -> dict[str, Any]:
    """Per live explorer: milliseconds from input event to image over ``n`` events; plus the sizes."""
    latency = {}
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        for name, count in manifest["live_explorers"].items():
            if not count:
                continue
            page = browser.new_page()
            open_book_page(page, book / f"{name}.html")
            keys = page.evaluate("() => [...document.querySelectorAll('div.aenb-explorer.aenb-live')]"
                                 ".map(e => [e.dataset.decoder, e.querySelectorAll('input.aenb-slider').length])")
            for i, (key, sliders) in enumerate(keys):
                times = sorted(set_slider(page, i, j, f)["ms"] for j, f in sweep(n, sliders))
                latency[key] = {"notebook": name[:2], "events": n, "median_ms": round(statistics.median(times), 2),
                                "p95_ms": round(times[int(0.95 * (n - 1))], 2), "worst_ms": round(times[-1], 2),
                                "target_ms": TARGET_MS}
            page.close()
        version = browser.version
        browser.close()
    return {"browser": f"headless Chromium {version}", "slider_latency_ms": latency,
            "decoders": {key: {**entry, "mode": read_checkpoint(decoders / entry["checkpoint"])["metadata"].get("mode")}
                         for key, entry in manifest["decoders"].items()},
            "total_bytes": manifest["total_bytes"], "runtime_bytes": manifest["runtime_bytes"],
            "build_seconds": manifest["seconds"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time the book's live slider events in headless Chromium")
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks")
    parser.add_argument("--decoders", type=Path, default=output_dir("results", "full") / "decoders")
    parser.add_argument("--out", type=Path, default=output_dir("results", "full") / "benchmarks.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aenb-book-bench-") as tmp:
        book = Path(tmp) / "book"
        section = measure(book, build_book(args.notebooks, args.decoders, book), args.decoders)
    record = json.loads(args.out.read_text()) if args.out.exists() else {}
    record["book"] = section
    atomic_write(args.out, lambda tmp: tmp.write_text(json.dumps(record, indent=2) + "\n"))
    print(json.dumps(section["slider_latency_ms"], indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
