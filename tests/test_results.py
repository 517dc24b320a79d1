"""Results files, the folders outputs go to, and the README tables generated from them."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from aenb import results
from aenb.data import data_dir
from aenb.paths import ROOT, output_dir


def _readme_tables():
    """tools/readme_tables.py is a script, not part of the package: import it from its file."""
    spec = importlib.util.spec_from_file_location("readme_tables", ROOT / "tools" / "readme_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _save(metrics: dict, stem: str = "99_demo", seconds: float = 1.0) -> Path:
    return results.save_results(stem, metrics, mode="fast", device="cpu", seconds=seconds)


def test_full_and_fast_results_go_to_separate_folders() -> None:
    full = results.save_results("99_demo", {"test_mse": 0.031}, mode="full", device="cpu", seconds=12.34)
    fast = results.save_results("99_demo", {"test_mse": 0.05}, mode="fast", device="cpu", seconds=1.0)
    assert full == output_dir("results", "full") / "99_demo.json"
    assert fast.parent.name == "fast" and fast != full
    assert json.loads(full.read_text()) == {"test_mse": 0.031, "mode": "full", "device": "cpu", "seconds": 12.3}
    with pytest.raises(ValueError, match="mode must be one of"):
        results.save_results("99_demo", {"x": 1.0}, mode="turbo", device="cpu", seconds=1)


@pytest.mark.parametrize("metrics, where, value", [
    ({"test_mse": float("nan")}, "metrics['test_mse']", "nan"),
    ({"psnr": {"our conv": [31.2, float("inf")]}}, "metrics['psnr']['our conv'][1]", "inf"),
    ({"curve": [{"x": -float("inf")}]}, "metrics['curve'][0]['x']", "-inf"),
    ({"ssim": np.float32("nan")}, "metrics['ssim']", "nan"),
    ({"loss": torch.tensor(float("nan"))}, "metrics['loss']", "nan"),
])
def test_non_finite_numbers_anywhere_are_refused_by_key_path(metrics: dict, where: str, value: str) -> None:
    """JSON has no NaN: json.dumps would write a bare ``NaN`` token that strict readers reject."""
    with pytest.raises(ValueError) as info:
        _save(metrics)
    assert str(info.value) == f"{where} is {value}: refusing to record a non-finite result (JSON has no NaN)"
    assert not list(output_dir("results", "fast").glob("99_demo*"))


def test_numpy_scalars_and_0d_tensors_become_json_numbers() -> None:
    metrics = {"mse": np.float32(0.03), "epochs": np.int64(30), "psnr": torch.tensor(21.7), "ok": np.bool_(True),
               "per_class": {"0": [np.float64(0.5), torch.tensor(2)]}}
    record = json.loads(_save(metrics).read_text())  # float32 0.03 is written 0.03, not 0.029999999329447746
    assert record == {"mse": 0.03, "epochs": 30, "psnr": 21.7, "ok": True, "per_class": {"0": [0.5, 2]},
                      "mode": "fast", "device": "cpu", "seconds": 1.0}
    assert type(record["epochs"]) is int and type(record["ok"]) is bool


@pytest.mark.parametrize("metrics, message", [
    ({"codes": torch.zeros(3)}, "metrics['codes'] has type Tensor of shape (3,): results hold numbers, strings, "
                                "lists and dicts (convert with float(...) or .tolist())"),
    ({"run": {"model": torch.nn.Linear(1, 1)}}, "metrics['run']['model'] has type Linear: results hold numbers, "
                                               "strings, lists and dicts (convert with float(...) or .tolist())"),
    ({"curve": {2: 0.1}}, "metrics['curve'] has key 2 (int): JSON keys must be strings"),
])
def test_other_types_are_refused_naming_key_and_type(metrics: dict, message: str) -> None:
    with pytest.raises(TypeError) as info:
        _save(metrics)
    assert str(info.value) == message


@pytest.mark.parametrize("seconds", [float("nan"), -1.0, float("inf"), True, "12"])
def test_seconds_must_be_a_finite_non_negative_number(seconds: object) -> None:
    with pytest.raises(ValueError) as info:
        _save({"x": 1}, seconds=seconds)  # type: ignore[arg-type]
    assert str(info.value) == f"seconds must be a finite number >= 0 (the notebook's wall time), got {seconds!r}"


def test_reserved_keys_are_refused() -> None:
    with pytest.raises(ValueError, match=r"metrics may not use the keys \['seconds'\]: save_results records"):
        _save({"seconds": 3})


@pytest.mark.parametrize("stem", ["../escaped", "a/b", "", "..", ".hidden", "a\\b"])
def test_stem_must_stay_inside_the_results_folder(stem: str) -> None:
    with pytest.raises(ValueError) as info:
        _save({"x": 1}, stem=stem)
    assert str(info.value) == ("stem must be a file name of letters, digits, '_' and '-' such as "
                               f"'01_basic_autoencoder' (it stays inside the results folder), got {stem!r}")
    assert not (output_dir("results", "fast").parent / "escaped.json").exists()


def test_a_failed_write_leaves_the_previous_file(monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save({"test_mse": 0.1})

    def disk_full(self: Path, text: str) -> int:
        Path.write_bytes(self, text[:10].encode())
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", disk_full)
    with pytest.raises(OSError, match="No space left"):
        _save({"test_mse": 0.2})
    monkeypatch.undo()
    assert json.loads(path.read_text())["test_mse"] == 0.1
    assert [p.name for p in path.parent.iterdir()] == ["99_demo.json"]


@pytest.mark.parametrize("variable", ["AENB_RESULTS", "AENB_CHECKPOINTS", "AENB_DATA"])
def test_folders_from_the_environment_expand_home_and_refuse_empty(variable: str, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(variable, "~/aenb-out")
    folder = {"AENB_RESULTS": lambda: output_dir("results", "full"),
              "AENB_CHECKPOINTS": lambda: output_dir("checkpoints", "full"),
              "AENB_DATA": data_dir}[variable]
    assert folder() == tmp_path / "aenb-out"
    for blank in ("", "   "):
        monkeypatch.setenv(variable, blank)
        with pytest.raises(ValueError) as info:
            folder()
        expected = rf"{variable} is set but empty: unset it \(default .+\) or give it a folder"
        assert re.fullmatch(expected, str(info.value))


def test_readme_table_is_rebuilt_from_the_files(tmp_path: Path) -> None:
    tables = _readme_tables()
    folder = tmp_path / "results"
    folder.mkdir()
    record = {"test_mse": 0.0333, "knn": {"pixels": 0.97, "pca": 0.93}, "curve": {"pca": {"2": 0.1}},
              "label": "x", "mode": "full", "device": "cpu", "seconds": 9.5}
    (folder / "01_demo.json").write_text(json.dumps(record))
    (folder / "benchmarks.json").write_text("{}")
    table = tables.results_table(results.load_results(folder))
    assert "| `01_demo` | `test_mse` | 0.0333 | cpu | 9.5 |" in table
    # a flat dict of numbers: one row per entry; deeper curves and text stay in the JSON
    assert "| `01_demo` | `knn.pixels` | 0.97 | cpu | 9.5 |" in table and "`knn.pca`" in table
    assert "curve" not in table and "label" not in table and "benchmarks" not in table
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{tables.START}\nstale\n{tables.END}\noutro\n")
    assert tables.update_readme(readme, results.load_results(folder)) is True
    assert "stale" not in readme.read_text() and readme.read_text().endswith("outro\n")
    assert tables.update_readme(readme, results.load_results(folder)) is False


def test_runtimes_and_time_to_quality_blocks_are_rebuilt_from_the_files(tmp_path: Path) -> None:
    tables = _readme_tables()
    runs = {"01_demo": {"mode": "full", "device": "cpu", "seconds": 120.0},
            "02_demo": {"mode": "full", "device": "cpu", "seconds": 30.5}}
    runtimes = tables.runtimes_table(runs)
    assert "| `01_demo` | 120.0 | 2.0 | cpu |" in runtimes and "| **whole series** | 150.5 | 2.5 | |" in runtimes
    flops = {"achieved_gflops": 100.0, "fraction_of_peak": 0.5}
    entry = {"notebook": "05", "metric": "PSNR (dB)", "target": 20.0, "target_source": "its 10 epochs",
             "original_recipe": {"model": "OriginalDenoiser", "seconds_to_quality": 1500.0, "epochs_to_quality": 10,
                                 "test_at_quality": 19.8, "how": "trained for real"},
             "aenb_recipe": {"model": "FastDenoiser", "seconds_to_quality": 60.0, "epochs_to_quality": 1, "epochs": 7,
                             "test_at_quality": 20.1},
             "speedup": 25.0, "flops": {"original": flops, "aenb": {**flops, "fraction_of_peak": 0.25}},
             "peak_gflops_matmul_4096": 200.0}
    table = tables.time_to_quality_table({"05_denoiser": entry})
    assert ("| 05 | PSNR (dB) 20 | 1,500 s (10 epochs of `OriginalDenoiser`, trained for real; test 19.8) | "
            "60 s (epoch 1 of 7; test 20.1) with `FastDenoiser` | **25.0×** | 100 GFLOP/s (50%) → 100 GFLOP/s (25%) |"
            ) in table
    unreached = {**entry, "speedup": None, "aenb_recipe": {**entry["aenb_recipe"], "seconds_to_quality": None}}
    assert "not reached in 7 epochs" in tables.time_to_quality_table({"05_denoiser": unreached})
    readme = tmp_path / "README.md"
    readme.write_text(f"{tables.START}\n{tables.END}\n{tables.RUNTIMES_START}\nold\n{tables.RUNTIMES_END}\n"
                      f"{tables.TTQ_START}\nold\n{tables.TTQ_END}\n")
    assert tables.update_readme(readme, runs, None, {"05_denoiser": entry}) is True
    text = readme.read_text()
    assert "old" not in text and "whole series" in text and "**25.0×**" in text


def test_committed_readme_matches_committed_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's tables must be regenerated (make results) whenever results change."""
    monkeypatch.delenv("AENB_RESULTS")
    assert _readme_tables().main(["--check"]) == 0


# --- Malformed results files: a message naming the file and the key, never a traceback or a wrong table ---------

_FLOPS = {"achieved_gflops": 90.0, "fraction_of_peak": 0.5}
#: Small valid files of each kind: each case below breaks one of them.
_VALID = {
    "01_demo.json": {"test_mse": 0.03, "knn": {"pixels": 0.97, "pca": 0.93}, "curve": {"2": [0.1, 0.2]},
                     "source": "checkpoint", "mode": "full", "device": "cpu", "seconds": 9.5},
    "benchmarks.json": {"devices": {"cpu": {"torch": "2.5", "throughput": {"models": {"mlp": {
        "notebook": "01", "batch_size": 100, "samples_per_s": {"seed_style": 1000.0, "fit_fast": 3000.0},
        "speedup": {"seed_style": 1.0, "fit_fast": 3.0}, "test_mse": {"fit_fast": 0.05}}}},
        "slider_latency_ms": {"3d": {"median_ms": 1.2, "worst_ms": 1.6}}}}},
    "time_to_quality.json": {"05_denoiser": {
        "notebook": "05", "metric": "test PSNR (dB)", "target": 19.5, "target_source": "its 10 epochs",
        "original_recipe": {"model": "OriginalDenoiser", "seconds_to_quality": 1643.0, "epochs_to_quality": 10,
                            "test_at_quality": 19.5, "how": "trained for real"},
        "aenb_recipe": {"model": "FastDenoiser", "epochs": 7, "seconds_to_quality": 65.2, "epochs_to_quality": 1,
                        "test_at_quality": 20.4,
                        "per_epoch": [{"epoch": 1, "test_psnr_db": 20.4}]},
        "speedup": 25.2, "flops": {"original": _FLOPS, "aenb": {**_FLOPS, "fraction_of_peak": 0.4}},
        "peak_gflops_matmul_4096": 160.0}},
}
_MODELS = "['devices']['cpu']['throughput']['models']['mlp']"


def _set(path: tuple, value: object) -> Callable[[dict], None]:
    """A change to a valid record: ``record[path[0]]...[path[-1]] = value``, or delete that key for _DELETE."""
    def change(record: dict) -> None:
        for key in path[:-1]:
            record = record[key]
        if value is _DELETE:
            del record[path[-1]]
        else:
            record[path[-1]] = value
    return change


_DELETE = object()


@pytest.mark.parametrize("name, broken, message", [
    ("01_demo.json", "{not json", " is not valid JSON: Expecting property name enclosed in double quotes at line 1, "
                                  "column 2"),
    ("01_demo.json", "", " is empty: expected a JSON object (rerun what writes it, or restore it with git checkout "
                         "-- {path})"),
    ("01_demo.json", "[0.03]", " should hold a JSON object at the top, found an array of 1 entry"),
    ("01_demo.json", '{"label": "x", "mode": "full", "device": "cpu", "seconds": 1}',
     " has no metrics: expected at least one number, or object of numbers, besides 'mode', 'device', 'seconds'; "
     "found the keys ['device', 'label', 'mode', 'seconds']"),
    ("01_demo.json", _set(("mode",), _DELETE), "['mode'] should be \"full\" (the README shows full-mode runs; "
                                               "other modes write under results/<mode>/), found nothing (the key is "
                                               "missing)"),
    ("01_demo.json", _set(("mode",), "fast"), "['mode'] should be \"full\" (the README shows full-mode runs; "
                                              "other modes write under results/<mode>/), found the string \"fast\""),
    ("01_demo.json", _set(("device",), _DELETE), "['device'] should be a string, found nothing (the key is missing)"),
    ("01_demo.json", _set(("seconds",), "12"), "['seconds'] should be a finite number >= 0, found the string \"12\""),
    ("01_demo.json", _set(("seconds",), -1), "['seconds'] should be a finite number >= 0, found -1"),
    ("01_demo.json", _set(("test_mse",), float("nan")), "['test_mse'] should be a finite number, found NaN"),
    ("01_demo.json", _set(("test_mse",), "0.03"), "['test_mse'] should be a number, found the string \"0.03\""),
    ("01_demo.json", _set(("knn", "pca"), "0.93"), "['knn']['pca'] should be a number, found the string \"0.93\""),
    ("01_demo.json", _set(("knn", "pca"), [0.93]),
     "['knn']['pca'] should be a finite number like the other entries of 'knn' (an object of numbers gets a table "
     "row each), found an array of 1 entry"),
    ("benchmarks.json", "{", " is not valid JSON: Expecting property name enclosed in double quotes at line 1, "
                             "column 2"),
    ("benchmarks.json", '{"cpu": {"throughput": {}}}',
     "['devices'] should be a non-empty object, found nothing (the key is missing)"),
    ("benchmarks.json", _set(("devices", "cpu", "throughput", "models", "mlp", "speedup", "fit_fast"), _DELETE),
     f"{_MODELS}['speedup']['fit_fast'] should be a finite number, found nothing (the key is missing)"),
    ("benchmarks.json", _set(("devices", "cpu", "throughput", "models", "mlp", "samples_per_s", "seed_style"), "1,000"),
     f"{_MODELS}['samples_per_s']['seed_style'] should be a finite number, found the string \"1,000\""),
    ("benchmarks.json", _set(("devices", "cpu", "throughput", "models", "mlp", "batch_size"), 100.5),
     f"{_MODELS}['batch_size'] should be a whole number, found 100.5"),
    ("benchmarks.json", _set(("devices", "cpu", "slider_latency_ms", "3d", "worst_ms"), _DELETE),
     "['devices']['cpu']['slider_latency_ms']['3d']['worst_ms'] should be a finite number, found nothing (the key is "
     "missing)"),
    ("time_to_quality.json", "[]", " should hold a JSON object at the top, found an array of 0 entries"),
    ("time_to_quality.json", _set(("05_denoiser",), 3), "['05_denoiser'] should be an object, found 3"),
    ("time_to_quality.json", _set(("05_denoiser", "speedup"), "25x"),
     "['05_denoiser']['speedup'] should be a finite number or null, found the string \"25x\""),
    ("time_to_quality.json", _set(("05_denoiser", "flops", "aenb", "achieved_gflops"), None),
     "['05_denoiser']['flops']['aenb']['achieved_gflops'] should be a finite number, found null"),
    ("time_to_quality.json", _set(("05_denoiser", "original_recipe", "epochs_to_quality"), _DELETE),
     "['05_denoiser']['original_recipe']['epochs_to_quality'] should be a whole number, found nothing (the key is "
     "missing)"),
    ("time_to_quality.json", _set(("05_denoiser", "aenb_recipe", "per_epoch", 0, "test_psnr_db"), float("inf")),
     "['05_denoiser']['aenb_recipe']['per_epoch'][0]['test_psnr_db'] should be a finite number, found Infinity"),
])
def test_a_malformed_results_file_is_named_with_its_key(name: str, broken: str | Callable[[dict], None], message: str,
                                                        tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("AENB_RESULTS", str(tmp_path))
    for file, record in _VALID.items():
        (tmp_path / file).write_text(json.dumps(record))
    readme = tmp_path / "README.md"
    tables = _readme_tables()
    readme.write_text(f"{tables.START}\n{tables.END}\n{tables.BENCH_START}\n{tables.BENCH_END}\n"
                      f"{tables.TTQ_START}\n{tables.TTQ_END}\n")
    assert tables.main(["--readme", str(readme)]) == 0  # the valid files make all three tables
    assert "| `01_demo` | `knn.pca` | 0.93 | cpu | 9.5 |" in readme.read_text() and "**25.2×**" in readme.read_text()
    capsys.readouterr()
    path = tmp_path / name
    if isinstance(broken, str):
        path.write_text(broken)
    else:
        record = copy.deepcopy(_VALID[name])
        broken(record)
        path.write_text(json.dumps(record))  # NaN and Infinity are written as Python's json writes them
    assert tables.main(["--check", "--readme", str(readme)]) == 2
    expected = f"cannot build the README's tables: {path}{message}".replace("{path}", str(path))
    assert capsys.readouterr().err == expected + "\n"
