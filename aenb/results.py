"""Headline metrics written by the notebooks, and the README table built from them.

Each notebook ends with ``save_results("01_basic_autoencoder", {...}, mode=..., device=...,
seconds=...)``. ``python -m aenb.results`` rewrites the README's results table from the
full-mode files, so no figure in the README is typed by hand; ``--check`` fails if the
README is out of date (the tests run it).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from .paths import ROOT, atomic_write, output_dir

START, END = "<!-- results:start -->", "<!-- results:end -->"


def save_results(stem: str, metrics: dict[str, Any], *, mode: str, device: str, seconds: float) -> Path:
    """Write ``results/<stem>.json`` (``results/<mode>/<stem>.json`` outside full mode)."""
    for key, value in metrics.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"metric {key!r} is {value}; refusing to record a non-finite result")
    record = {**metrics, "mode": mode, "device": device, "seconds": round(float(seconds), 1)}
    path = output_dir("results", mode) / f"{stem}.json"
    text = json.dumps(record, indent=2, sort_keys=False) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def load_results(results_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """All full-mode result files, by notebook stem (``benchmarks.json`` excluded)."""
    folder = results_dir or output_dir("results", "full")
    return {
        p.stem: json.loads(p.read_text())
        for p in sorted(folder.glob("[0-9][0-9]_*.json"))
    }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return f"{len(value)} entries"
    return str(value)


def results_table(results: dict[str, dict[str, Any]]) -> str:
    """A Markdown table: one row per scalar metric of each notebook."""
    lines = ["| notebook | metric | value | device | seconds |", "| --- | --- | --- | --- | --- |"]
    for stem, record in results.items():
        meta = {"mode", "device", "seconds"}
        for key, value in record.items():
            if key in meta or isinstance(value, (dict, list)):
                continue
            lines.append(f"| `{stem}` | `{key}` | {_fmt(value)} | {record.get('device', '?')} | {record.get('seconds', '?')} |")
    return "\n".join(lines)


def update_readme(readme: Path, results: dict[str, dict[str, Any]]) -> bool:
    """Replace the block between the results markers; return True if the file changed."""
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme} has no {START} ... {END} block")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{results_table(results)}\n{END}{tail}"
    if new == text:
        return False
    atomic_write(readme, lambda tmp: tmp.write_text(new))
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rebuild the README's results table from results/*.json")
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is out of date")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = parser.parse_args(argv)
    results = load_results()
    if args.check:
        text = args.readme.read_text()
        current = text.split(START, 1)[1].split(END, 1)[0].strip() if START in text else None
        if current != results_table(results):
            print(f"{args.readme} results table is out of date: run `python -m aenb.results`", file=sys.stderr)
            return 1
        print("README results table is up to date")
        return 0
    changed = update_readme(args.readme, results)
    print("README updated" if changed else "README already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
