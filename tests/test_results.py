"""Results files and the README table generated from them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aenb import results
from aenb.paths import output_dir


def test_full_and_fast_results_go_to_separate_folders() -> None:
    full = results.save_results("99_demo", {"test_mse": 0.031}, mode="full", device="cpu", seconds=12.34)
    fast = results.save_results("99_demo", {"test_mse": 0.05}, mode="fast", device="cpu", seconds=1.0)
    assert full == output_dir("results", "full") / "99_demo.json"
    assert fast.parent.name == "fast" and fast != full
    assert json.loads(full.read_text()) == {"test_mse": 0.031, "mode": "full", "device": "cpu", "seconds": 12.3}


def test_non_finite_metrics_are_refused() -> None:
    with pytest.raises(ValueError, match="'test_mse' is nan"):
        results.save_results("99_demo", {"test_mse": float("nan")}, mode="full", device="cpu", seconds=1)
    with pytest.raises(ValueError, match="mode must be one of"):
        results.save_results("99_demo", {"x": 1.0}, mode="turbo", device="cpu", seconds=1)


def test_readme_table_is_rebuilt_from_the_files(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    record = {"test_mse": 0.0333, "knn": {"pixels": 0.97, "pca": 0.93}, "curve": {"pca": {"2": 0.1}},
              "label": "x", "mode": "full", "device": "cpu", "seconds": 9.5}
    (folder / "01_demo.json").write_text(json.dumps(record))
    (folder / "benchmarks.json").write_text("{}")
    table = results.results_table(results.load_results(folder))
    assert "| `01_demo` | `test_mse` | 0.0333 | cpu | 9.5 |" in table
    # a flat dict of numbers: one row per entry; deeper curves and text stay in the JSON
    assert "| `01_demo` | `knn.pixels` | 0.97 | cpu | 9.5 |" in table and "`knn.pca`" in table
    assert "curve" not in table and "label" not in table and "benchmarks" not in table
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{results.START}\nstale\n{results.END}\noutro\n")
    assert results.update_readme(readme, results.load_results(folder)) is True
    assert "stale" not in readme.read_text() and readme.read_text().endswith("outro\n")
    assert results.update_readme(readme, results.load_results(folder)) is False


def test_committed_readme_matches_committed_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's table must be regenerated (python -m aenb.results) whenever results change."""
    monkeypatch.delenv("AENB_RESULTS")
    assert results.main(["--check"]) == 0
