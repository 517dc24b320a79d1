"""The reusable notebook-01 model: same recipe as the notebook, re-created when missing."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import torch

from aenb.data import load_dataset
from aenb.pretrained import BASIC_AE_CHECKPOINT, basic_autoencoder, basic_autoencoder_recipe

ROOT = Path(__file__).resolve().parents[1]


def _notebook_01_settings(fast: bool) -> dict:
    nb = nbformat.read(ROOT / "notebooks" / "01_basic_autoencoder.ipynb", as_version=4)
    source = next(c.source for c in nb.cells if c.cell_type == "code" and "EPOCHS =" in c.source)
    values = {}
    for name in ("TRAIN_LIMIT", "EPOCHS", "BATCH_SIZE", "LR"):
        expr = re.search(rf"^{name} = ([^#\n]+)", source, re.M).group(1)
        values[name] = eval(expr, {"FAST": fast})  # noqa: S307 -- our own notebook's constants
    return values


def test_recipe_is_the_one_notebook_01_uses() -> None:
    for mode in ("full", "fast"):
        recipe = basic_autoencoder_recipe(mode)
        nb = _notebook_01_settings(fast=mode == "fast")
        assert (nb["TRAIN_LIMIT"], nb["EPOCHS"], nb["BATCH_SIZE"], nb["LR"]) == (
            recipe["train_limit"], recipe["epochs"], recipe["batch_size"], recipe["lr"])


def test_trains_when_missing_then_loads(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AENB_CHECKPOINTS", str(tmp_path))
    model, info = basic_autoencoder("fast", device="cpu", verbose=False)
    assert info["source"] == "trained" and "trained its model" in info["message"]
    assert (tmp_path / "fast" / BASIC_AE_CHECKPOINT).exists()
    again, info2 = basic_autoencoder("fast", device="cpu")
    assert info2["source"] == "checkpoint" and info2["test_mse"] == info["test_mse"]
    x = load_dataset("mnist", "test", limit=500).images
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
        codes = model.encode(x)
    # The fast recipe must not collapse to the mean digit: every code dimension varies.
    assert (codes.std(0) > 0.05).all(), codes.std(0)
    assert info["test_mse"] < 0.065
