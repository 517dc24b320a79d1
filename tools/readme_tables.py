"""Rebuild the README's generated tables from ``results/*.json``: ``make results``.

    python tools/readme_tables.py          # rewrite the generated blocks of README.md
    python tools/readme_tables.py --check  # exit 1 if they are out of date (the tests run this)

The notebooks write ``results/<notebook>.json`` (:func:`aenb.results.save_results`),
``benchmarks/run.py`` writes ``results/benchmarks.json`` and ``benchmarks/time_to_quality.py``
writes ``results/time_to_quality.json``; this script copies their numbers into the README's
blocks between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` (``results``, ``runtimes``,
``benchmarks``, ``time-to-quality``, ``book``), so no figure in those blocks is typed by hand. It is
repository tooling, not part of the ``aenb`` package the notebooks import.

Every file is checked before a table is built from it: a missing key, a value of the wrong type,
a NaN or a number written as a string stops the script with a message naming the file, the key,
what was expected and what was found, rather than a traceback or a silently wrong table.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

from aenb.paths import ROOT, atomic_write, output_dir, shown
from aenb.results import RESERVED, describe_json, load_results, read_record

START, END = "<!-- results:start -->", "<!-- results:end -->"
BENCH_START, BENCH_END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
RUNTIMES_START, RUNTIMES_END = "<!-- runtimes:start -->", "<!-- runtimes:end -->"
TTQ_START, TTQ_END = "<!-- time-to-quality:start -->", "<!-- time-to-quality:end -->"
BOOK_START, BOOK_END = "<!-- book:start -->", "<!-- book:end -->"


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
            if record.get("book"):
                out += ["", book_latency_line(record["book"])]
        out.append("")
    return "\n".join(out).strip()


def book_latency_line(book: dict[str, Any]) -> str:
    """The book's slider events (benchmarks/book_slider_latency.py), for the line beside the kernel's."""
    return (f"The same sliders in the static book ({book['browser']}, the decoder run by onnxruntime-web on one "
            "thread; input event to new image), ms over 100 events: "
            + "; ".join(f"{v['notebook']} `{k}`: median {v['median_ms']:.1f}, worst {v['worst_ms']:.1f}"
                        for k, v in book["slider_latency_ms"].items()))


def book_sizes(record: dict[str, Any]) -> str:
    """The book's decoders and total size, from the ``book`` entry of results/benchmarks.json."""
    book = record.get("book")
    if not book:
        return "_No book measured yet: run `python benchmarks/book_slider_latency.py`._"
    decoders = ", ".join(f"`{key}.onnx` {entry['onnx_bytes'] / 1e6:.2f} MB"
                         + (f" ({entry['mode']}-mode run)" if entry.get("mode") != "full" else "")
                         for key, entry in book["decoders"].items())
    return (f"Decoders as ONNX (exported at build time from `results/decoders/`): {decoders}. "
            f"The whole book: {book['total_bytes'] / 1e6:.1f} MB, built in {book['build_seconds']:.0f} s; "
            f"{book['runtime_bytes'] / 1e6:.1f} MB of it is onnxruntime-web's WebAssembly (as base64), which only "
            "pages with a live explorer load.")


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
    lines = ["| notebook | target: the original recipe's validation score | original recipe: seconds to it "
             "(test score there) | aenb recipe: seconds to it (test score there) | speed-up | "
             "achieved FLOP/s (original → aenb) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for entry in record.values():
        orig, ours, flops = entry["original_recipe"], entry["aenb_recipe"], entry["flops"]
        reached = (f"{ours['seconds_to_quality']:,.0f} s (epoch {ours['epochs_to_quality']} of {ours['epochs']}; "
                   f"test {_fmt(ours['test_at_quality'])})"
                   if ours["seconds_to_quality"] is not None else f"not reached in {ours['epochs']} epochs")
        speedup = f"**{entry['speedup']}×**" if entry["speedup"] is not None else "–"
        share = " → ".join(f"{flops[k]['achieved_gflops']:.0f} GFLOP/s ({flops[k]['fraction_of_peak']:.0%})"
                           for k in ("original", "aenb"))
        lines.append(f"| {entry['notebook']} | {entry['metric']} {_fmt(entry['target'])} | "
                     f"{orig['seconds_to_quality']:,.0f} s "
                     f"({orig['epochs_to_quality']} epochs of `{orig['model']}`, {orig['how']}; "
                     f"test {_fmt(orig['test_at_quality'])}) | "
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
    benchmarks/time_to_quality.py), checked, or {} when there is none."""
    path = (results_dir or output_dir("results", "full")) / name
    if not path.exists():
        return {}
    record = read_record(path)
    CHECKS[name](shown(path), record)
    return record


def load_notebook_results(results_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """The notebooks' results files (:func:`aenb.results.load_results`), each checked."""
    folder = results_dir or output_dir("results", "full")
    results = load_results(folder)
    for stem, record in results.items():
        check_notebook_record(shown(folder / f"{stem}.json"), record)
    return results


# --- Checks: every value a table reads, named by file and key ------------------------------------------------

class ResultsFileError(ValueError):
    """A results file that does not hold what the README's tables are built from."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


FULL_MODE = '"full" (the README shows full-mode runs; other modes write under results/<mode>/)'
#: What a value may be, in the words the messages use for it.
KINDS: dict[str, Callable[[Any], bool]] = {
    "a finite number": _is_number,
    "a finite number >= 0": lambda v: _is_number(v) and v >= 0,
    "a finite number or null": lambda v: v is None or _is_number(v),
    "a whole number": _is_whole,
    "a whole number or null": lambda v: v is None or _is_whole(v),
    "a string": lambda v: isinstance(v, str),
    "an object": lambda v: isinstance(v, dict),
    "a non-empty object": lambda v: isinstance(v, dict) and bool(v),
    FULL_MODE: lambda v: v == "full",
}


def _need(parent: dict[str, Any], key: str, kind: str, where: str, optional: bool = False) -> Any:
    """``parent[key]`` when it is ``kind`` (a key of KINDS), else an error naming ``where[key]``.

    An ``optional`` key may be missing (then None is returned), but not of another kind.
    """
    if key not in parent:
        if optional:
            return None
        raise ResultsFileError(f"{where}[{key!r}] should be {kind}, found nothing (the key is missing)")
    if not KINDS[kind](parent[key]):
        raise ResultsFileError(f"{where}[{key!r}] should be {kind}, found {describe_json(parent[key])}")
    return parent[key]


def _need_each(parent: dict[str, Any], keys: Any, kind: str, where: str) -> None:
    for key in keys:
        _need(parent, key, kind, where)


def _leaves(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    """Every value below ``value`` that is not an object or array, with its key path."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else None
    if items is None:
        yield where, value
        return
    for key, item in items:
        yield from _leaves(item, f"{where}[{key!r}]")


def _check_finite(where: str, record: dict[str, Any]) -> None:
    """Refuse NaN and Infinity anywhere: Python's json reads them, but JSON has no such numbers, nor may a table."""
    for path, value in _leaves(record, where):
        if isinstance(value, float) and not math.isfinite(value):
            raise ResultsFileError(f"{path} should be a finite number, found {describe_json(value)}")


def _parses_as_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_notebook_record(where: str, record: dict[str, Any]) -> None:
    """A notebook's results file (aenb.results.save_results): its mode, device, seconds and metrics.

    A metric is tabulated when it is a number or an object of numbers; anything else (curves,
    labels) stays in the JSON. So an object mixing numbers with other values, or a number written
    as a string, would silently lose its rows: both are refused, as is a file with no metric at all.
    """
    _check_finite(where, record)
    _need(record, "mode", FULL_MODE, where)
    _need(record, "device", "a string", where)
    _need(record, "seconds", "a finite number >= 0", where)
    metrics = {key: value for key, value in record.items() if key not in RESERVED}
    for path, value in _leaves(metrics, where):
        if isinstance(value, str) and _parses_as_number(value):
            raise ResultsFileError(f"{path} should be a number, found {describe_json(value)}")
    for key, value in metrics.items():
        odd = [k for k, v in value.items() if not _is_number(v)] if isinstance(value, dict) else []
        if odd and len(odd) < len(value):
            raise ResultsFileError(f"{where}[{key!r}][{odd[0]!r}] should be a finite number like the other entries "
                                   f"of {key!r} (an object of numbers gets a table row each), "
                                   f"found {describe_json(value[odd[0]])}")
    if not any(_is_number(v) or (isinstance(v, dict) and v and all(map(_is_number, v.values())))
               for v in metrics.values()):
        raise ResultsFileError(f"{where} has no metrics: expected at least one number, or object of numbers, besides "
                               f"{', '.join(map(repr, RESERVED))}; found the keys {sorted(record)}")


def check_benchmarks(where: str, record: dict[str, Any]) -> None:
    """``benchmarks.json``: what :func:`benchmarks_table` reads from each device's section ({}: none yet)."""
    _check_finite(where, record)
    if not record:
        return
    devices = _need(record, "devices", "a non-empty object", where)
    for device in devices:
        section = _need(devices, device, "an object", f"{where}['devices']")
        at = f"{where}['devices'][{device!r}]"
        _need(section, "torch", "a string", at, optional=True)
        throughput = _need(section, "throughput", "an object", at)
        _need(throughput, "note", "a string", f"{at}['throughput']", optional=True)
        models = _need(throughput, "models", "a non-empty object", f"{at}['throughput']")
        columns: list[str] = []  # the first model's variants are the table's columns
        for name in models:
            row = _need(models, name, "an object", f"{at}['throughput']['models']")
            row_at = f"{at}['throughput']['models'][{name!r}]"
            _need(row, "notebook", "a string", row_at)
            _need(row, "batch_size", "a whole number", row_at)
            rates = _need(row, "samples_per_s", "a non-empty object", row_at)
            columns = columns or [k for k in rates if k != "seed_style"]
            _need_each(rates, ["seed_style", *columns], "a finite number", f"{row_at}['samples_per_s']")
            _need_each(_need(row, "speedup", "an object", row_at), columns, "a finite number", f"{row_at}['speedup']")
            mse = _need(row, "test_mse", "an object", row_at, optional=True) or {}
            _need_each(mse, mse, "a finite number", f"{row_at}['test_mse']")
        latencies = _need(section, "slider_latency_ms", "an object", at, optional=True) or {}
        for name in latencies:
            latency = _need(latencies, name, "an object", f"{at}['slider_latency_ms']")
            _need_each(latency, ["median_ms", "worst_ms"], "a finite number", f"{at}['slider_latency_ms'][{name!r}]")


def check_time_to_quality(where: str, record: dict[str, Any]) -> None:
    """``time_to_quality.json``: what :func:`time_to_quality_table` reads from each notebook's entry ({}: none yet)."""
    _check_finite(where, record)
    for name in record:
        entry = _need(record, name, "an object", where)
        at = f"{where}[{name!r}]"
        _need_each(entry, ["notebook", "metric", "target_source"], "a string", at)
        _need_each(entry, ["target", "peak_gflops_matmul_4096"], "a finite number", at)
        _need(entry, "speedup", "a finite number or null", at)
        original = _need(entry, "original_recipe", "an object", at)
        _need_each(original, ["model", "how"], "a string", f"{at}['original_recipe']")
        _need(original, "seconds_to_quality", "a finite number", f"{at}['original_recipe']")
        _need(original, "epochs_to_quality", "a whole number", f"{at}['original_recipe']")
        _need(original, "test_at_quality", "a finite number", f"{at}['original_recipe']")
        ours = _need(entry, "aenb_recipe", "an object", at)
        _need(ours, "model", "a string", f"{at}['aenb_recipe']")
        _need(ours, "epochs", "a whole number", f"{at}['aenb_recipe']")
        _need(ours, "seconds_to_quality", "a finite number or null", f"{at}['aenb_recipe']")
        _need(ours, "epochs_to_quality", "a whole number or null", f"{at}['aenb_recipe']")
        _need(ours, "test_at_quality", "a finite number or null", f"{at}['aenb_recipe']")
        flops = _need(entry, "flops", "an object", at)
        for which in ("original", "aenb"):
            share = _need(flops, which, "an object", f"{at}['flops']")
            _need_each(share, ["achieved_gflops", "fraction_of_peak"], "a finite number", f"{at}['flops'][{which!r}]")


#: The check of each file that load_record reads.
CHECKS: dict[str, Callable[[str, dict[str, Any]], None]] = {
    "benchmarks.json": check_benchmarks, "time_to_quality.json": check_time_to_quality}


def render_readme(text: str, results: dict[str, dict[str, Any]], benchmarks: dict[str, Any] | None = None,
                  time_to_quality: dict[str, Any] | None = None) -> str:
    """``text`` with its generated blocks rebuilt (the results block must be there; the others where present)."""
    text = _replace_block(text, START, END, results_table(results))
    for start, end, body in [(RUNTIMES_START, RUNTIMES_END, lambda: runtimes_table(results)),
                             (BENCH_START, BENCH_END, lambda: benchmarks_table(benchmarks or {})),
                             (TTQ_START, TTQ_END, lambda: time_to_quality_table(time_to_quality or {})),
                             (BOOK_START, BOOK_END, lambda: book_sizes(benchmarks or {}))]:
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
    try:
        results = load_notebook_results()
        benchmarks, ttq = load_record("benchmarks.json"), load_record("time_to_quality.json")
    except ValueError as exc:  # a malformed results file: ResultsFileError, or aenb.results.read_record's
        print(f"cannot build the README's tables: {exc}", file=sys.stderr)
        return 2
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
