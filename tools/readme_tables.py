"""Rebuild the README's generated tables from ``results/*.json``: ``make results``.

    python tools/readme_tables.py          # rewrite the generated blocks of README.md
    python tools/readme_tables.py --check  # exit 1 if they are out of date (the tests run this)

The notebooks write ``results/<notebook>.json`` (:func:`aenb.results.save_results`),
``benchmarks/run.py`` writes ``results/benchmarks.json`` and ``benchmarks/time_to_quality.py``
writes ``results/time_to_quality.json``; this script copies their numbers into the README's
blocks between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` (``results``, ``runtimes``,
``benchmarks``, ``time-to-quality``), so no figure in those blocks is typed by hand. It is
repository tooling, not part of the ``aenb`` package the notebooks import.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from aenb.paths import ROOT, atomic_write, output_dir
from aenb.results import load_results

START, END = "<!-- results:start -->", "<!-- results:end -->"
BENCH_START, BENCH_END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
RUNTIMES_START, RUNTIMES_END = "<!-- runtimes:start -->", "<!-- runtimes:end -->"
TTQ_START, TTQ_END = "<!-- time-to-quality:start -->", "<!-- time-to-quality:end -->"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return f"{len(value)} entries"
    return str(value)


def results_table(results: dict[str, dict[str, Any]]) -> str:
    """A Markdown table: one row per scalar metric of each notebook.

    A metric that is a flat dict of numbers (e.g. ``knn_accuracy: {"pixels": 0.97, ...}``) gets
    one row per entry, named ``knn_accuracy.pixels``; deeper structures (curves) stay in the JSON.
    """
    lines = ["| notebook | metric | value | device | seconds |", "| --- | --- | --- | --- | --- |"]
    is_number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)  # noqa: E731
    for stem, record in results.items():
        meta = {"mode", "device", "seconds"}
        device, seconds = record.get("device", "?"), record.get("seconds", "?")
        for key, value in record.items():
            if key in meta:
                continue
            if isinstance(value, dict) and value and all(is_number(v) for v in value.values()):
                rows = [(f"{key}.{k}", v) for k, v in value.items()]
            elif is_number(value):
                rows = [(key, value)]
            else:
                continue  # the table lists numbers; curves and labels stay in the JSON
            lines += [f"| `{stem}` | `{name}` | {_fmt(v)} | {device} | {seconds} |" for name, v in rows]
    return "\n".join(lines)


def benchmarks_table(record: dict[str, Any]) -> str:
    """Markdown tables from ``results/benchmarks.json`` (see benchmarks/run.py)."""
    if not record:
        return "_No benchmark recorded yet: run `python benchmarks/run.py`._"
    out = []
    for device, section in record.get("devices", {}).items():
        variants = _variant_names(section)
        out += [f"**{device}** (torch {section.get('torch', '?')}): training throughput, samples/s "
                "(median of timed epochs after a warm-up; speed-up over the original-style pipeline)", "",
                "| model | notebook | batch | original-style | " + " | ".join(variants)
                + " | test MSE plain → fast |",
                "| --- | --- | --- | --- | " + " | ".join("---" for _ in variants) + " | --- |"]
        for name, row in section["throughput"]["models"].items():
            rates = row["samples_per_s"]
            cells = [f"{rates[v]:,.0f} ({row['speedup'][v]:.1f}×)" for v in _variant_names(section)]
            mse = row.get("test_mse", {})
            quality = " → ".join(f"{v:.5f}" for v in mse.values()) if mse else "–"
            out.append(f"| `{name}` | {row['notebook']} | {row['batch_size']} | {rates['seed_style']:,.0f} | "
                       + " | ".join(cells) + f" | {quality} |")
        if section["throughput"].get("note"):
            out += ["", f"_Note: {section['throughput']['note']}._"]
        latency = section.get("slider_latency_ms")
        if latency:
            out += ["", "Slider events (model call + redraw; 3d, 2d: latent explorer, noise: notebook 05's "
                    "noise slider), ms over 100 events: "
                    + "; ".join(f"{k}: median {v['median_ms']:.1f}, worst {v['worst_ms']:.1f}"
                                for k, v in latency.items() if isinstance(v, dict) and "median_ms" in v)]
        out.append("")
    return "\n".join(out).strip()


def runtimes_table(results: dict[str, dict[str, Any]]) -> str:
    """Each notebook's recorded full-mode wall time and device (the ``seconds`` of its results file)."""
    lines = ["| notebook | full mode: recorded seconds | minutes | device |", "| --- | --- | --- | --- |"]
    lines += [f"| `{stem}` | {r['seconds']:.1f} | {r['seconds'] / 60:.1f} | {r['device']} |"
              for stem, r in results.items() if r.get("mode") == "full" and "seconds" in r]
    total = sum(r["seconds"] for r in results.values() if r.get("mode") == "full" and "seconds" in r)
    return "\n".join(lines + [f"| **whole series** | {total:.1f} | {total / 60:.1f} | |"])


def time_to_quality_table(record: dict[str, Any]) -> str:
    """The table of ``results/time_to_quality.json`` (see benchmarks/time_to_quality.py), one row per notebook."""
    if not record:
        return "_No time to quality recorded yet: run `python benchmarks/time_to_quality.py conv` (and `denoiser`)._"
    lines = ["| notebook | target: the original recipe's final | original recipe: seconds to it | "
             "aenb recipe: seconds to it | speed-up | achieved FLOP/s (original → aenb) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for entry in record.values():
        orig, ours, flops = entry["original_recipe"], entry["aenb_recipe"], entry["flops"]
        reached = (f"{ours['seconds_to_quality']:,.0f} s (epoch {ours['epochs_to_quality']} of {ours['epochs']})"
                   if ours["seconds_to_quality"] is not None else f"not reached in {ours['epochs']} epochs")
        speedup = f"**{entry['speedup']}×**" if entry["speedup"] is not None else "–"
        share = " → ".join(f"{flops[k]['achieved_gflops']:.0f} GFLOP/s ({flops[k]['fraction_of_peak']:.0%})"
                           for k in ("original", "aenb"))
        lines.append(f"| {entry['notebook']} | {entry['metric']} {_fmt(entry['target'])} | "
                     f"{orig['seconds_to_quality']:,.0f} s "
                     f"({orig['epochs_to_quality']} epochs of `{orig['model']}`, {orig['how']}) | "
                     f"{reached} with `{ours['model']}` | {speedup} | {share} |")
    peaks = "; ".join(f"{e['notebook']}: {e['peak_gflops_matmul_4096']:.0f} GFLOP/s" for e in record.values())
    sources = " ".join(f"{e['notebook']}: {e['target_source']}." for e in record.values())
    return "\n".join(lines + ["", f"Peak of this CPU (float32 4096² matmul, median of 5), per run: {peaks}. "
                                   f"Percentages are of that peak. Targets: {sources}"])


def _variant_names(section: dict[str, Any]) -> list[str]:
    first = next(iter(section["throughput"]["models"].values()))
    return [k for k in first["samples_per_s"] if k != "seed_style"]


def _replace_block(text: str, start: str, end: str, body: str) -> str:
    if start not in text or end not in text:
        raise ValueError(f"README has no {start} ... {end} block")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def load_record(name: str, results_dir: Path | None = None) -> dict[str, Any]:
    """``results/<name>`` (``benchmarks.json`` from benchmarks/run.py, ``time_to_quality.json`` from
    benchmarks/time_to_quality.py), or {} when there is none."""
    path = (results_dir or output_dir("results", "full")) / name
    return json.loads(path.read_text()) if path.exists() else {}


def render_readme(text: str, results: dict[str, dict[str, Any]], benchmarks: dict[str, Any] | None = None,
                  time_to_quality: dict[str, Any] | None = None) -> str:
    """``text`` with its generated blocks rebuilt (the results block must be there; the others where present)."""
    text = _replace_block(text, START, END, results_table(results))
    for start, end, body in [(RUNTIMES_START, RUNTIMES_END, lambda: runtimes_table(results)),
                             (BENCH_START, BENCH_END, lambda: benchmarks_table(benchmarks or {})),
                             (TTQ_START, TTQ_END, lambda: time_to_quality_table(time_to_quality or {}))]:
        if start in text:
            text = _replace_block(text, start, end, body())
    return text


def update_readme(readme: Path, results: dict[str, dict[str, Any]], benchmarks: dict[str, Any] | None = None,
                  time_to_quality: dict[str, Any] | None = None) -> bool:
    """Rebuild the generated blocks of ``readme``; return True if the file changed."""
    text = readme.read_text()
    new = render_readme(text, results, benchmarks, time_to_quality)
    if new == text:
        return False
    atomic_write(readme, lambda tmp: tmp.write_text(new))
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rebuild the README's results table from results/*.json")
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is out of date")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = parser.parse_args(argv)
    results, benchmarks, ttq = load_results(), load_record("benchmarks.json"), load_record("time_to_quality.json")
    if args.check:
        text = args.readme.read_text()
        if render_readme(text, results, benchmarks, ttq) != text:
            print(f"{args.readme} tables are out of date: run `make results` (python tools/readme_tables.py)",
                  file=sys.stderr)
            return 1
        print("README tables are up to date")
        return 0
    changed = update_readme(args.readme, results, benchmarks, ttq)
    print("README updated" if changed else "README already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
