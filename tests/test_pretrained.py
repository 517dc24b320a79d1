"""The reusable notebook-01 model: one recipe function, which notebook 01 calls and basic_autoencoder re-uses."""

from __future__ import annotations

import torch

from aenb.data import load_dataset
from aenb.pretrained import BASIC_AE_CHECKPOINT, basic_autoencoder, train_basic_autoencoder


def test_trains_when_missing_then_loads_the_same_model_the_recipe_trains(tmp_path, monkeypatch) -> None:
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
    # What notebook 01 calls (here with a validation set, which does not change the weights) is that model.
    torch.manual_seed(123)  # the recipe seeds itself: what ran before does not matter
    recipe_model, history = train_basic_autoencoder("fast", "cpu", validation_data=x, verbose=False)
    assert len(history) == info["epochs"] and "val_loss" in history.history and not recipe_model.training
    assert all(torch.equal(a, b) for a, b in zip(recipe_model.state_dict().values(), model.state_dict().values()))
