"""Reused models: notebook 01's recipe (called by notebook 01, re-used by basic_autoencoder), published weights."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest
import torch

from aenb.checkpoints import FORMAT, CheckpointError, load_checkpoint, read_checkpoint
from aenb.data import load_dataset
from aenb.inference import reconstruct
from aenb.metrics import psnr
from aenb.models import ConvAutoencoder, OriginalDenoiser
from aenb.noise import add_noise
from aenb.paths import ROOT
from aenb.pretrained import (
    BASIC_AE_CHECKPOINT,
    DIGESTS,
    ORIGINAL_CONV_RECIPES,
    ORIGINAL_CONV_WEIGHTS,
    ORIGINAL_DENOISER_RECIPE,
    ORIGINAL_DENOISER_WEIGHTS,
    PUBLISHED,
    basic_autoencoder,
    original_conv,
    original_denoiser,
    record_digest,
    recorded_digests,
    train_basic_autoencoder,
    train_original_conv,
    train_original_denoiser,
)
from aenb.training import evaluate


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


# --- Published weights: committed files, re-evaluated on the CPU -----------------------------------------------

def test_every_published_file_is_a_safe_checkpoint_and_all_fit_in_20_mb() -> None:
    files = sorted(PUBLISHED.glob("*.pt"))
    expected = {ORIGINAL_DENOISER_WEIGHTS, *ORIGINAL_CONV_WEIGHTS.values()}
    assert expected <= set(files), f"published weights missing: {files}"
    assert sum(f.stat().st_size for f in files) <= 20 * 2**20
    for f in files:  # read_checkpoint loads with weights_only=True: tensors and plain containers only
        assert read_checkpoint(f)["format"] == FORMAT


def test_published_original_denoiser_scores_what_it_says_on_the_full_test_set() -> None:
    model, meta = original_denoiser()
    assert meta["epochs"] == ORIGINAL_DENOISER_RECIPE["epochs"] == len(meta["per_epoch"])
    assert meta["train_images"] == 59_000 and meta["recipe"] == ORIGINAL_DENOISER_RECIPE
    test = load_dataset("mnist", "test").images  # notebook 05's test noise: seed 1
    noisy = add_noise(test, 0.5, generator=torch.Generator().manual_seed(1))
    score = float(psnr(reconstruct(model, noisy), test).mean())
    assert abs(score - meta["test_psnr_db"]) < 0.005, (score, meta["test_psnr_db"])
    assert score > float(psnr(noisy, test).mean()) + 5  # it denoises: about 9.4 dB in
    # Notebook 05's stored full run loaded these weights and reports the same score.
    stored = json.loads((ROOT / "results" / "05_denoising_autoencoder.json").read_text())
    if stored["original_conv_source"].startswith("published"):
        assert stored["original_conv_dae_psnr_db"] == round(score, 2)


@pytest.mark.parametrize("latent_dim", sorted(ORIGINAL_CONV_WEIGHTS))
def test_published_original_conv_runs_score_what_they_say(latent_dim: int) -> None:
    """Notebook 04's original recipe (RMSprop, MSE, early stopping on the last 6,000 training images): the
    restored epoch is the best validation epoch of the run, and its test MSE recomputes on the CPU."""
    model, meta = original_conv(latent_dim)
    assert isinstance(model, ConvAutoencoder) and model.config["extra_conv"] is False  # upstream layers
    assert model.latent_dim == latent_dim and meta["recipe"] == ORIGINAL_CONV_RECIPES[latent_dim]
    rows = meta["per_epoch"]
    assert len(rows) == meta["epochs"] == len(meta["train_loss"]) <= meta["recipe"]["epochs"]
    best = min(rows, key=lambda r: r["val_mse"])
    assert best["epoch"] == meta["best_epoch"]
    if meta["stopped_early"]:  # EarlyStopping(patience=5): five epochs without a better val_loss, then stop
        assert meta["epochs"] == meta["best_epoch"] + meta["recipe"]["patience"]
    train = load_dataset("mnist", "train").images
    assert abs(evaluate(model, train[54_000:])["loss"] - meta["val_mse"]) < 5e-5
    assert abs(evaluate(model, load_dataset("mnist", "test").images)["loss"] - meta["test_mse"]) < 5e-5
    assert abs(meta["test_mse"] - best["test_mse"]) < 5e-5  # the restored weights are that epoch's


def test_the_original_conv_recipe_is_repeatable_and_stops_early(mnist_train_small) -> None:
    images = mnist_train_small.images
    runs = [train_original_conv(2, images[:768], images[768:1024], device="cpu", verbose=False) for _ in range(2)]
    (model, history, stop), (again, _, _) = runs
    assert isinstance(model, ConvAutoencoder) and not model.training and len(history) >= 1
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    with pytest.raises(ValueError, match=r"code sizes \[2, 10\], got 3"):
        train_original_conv(3, images[:8], images[8:16], verbose=False)


def test_the_original_denoiser_recipe_is_repeatable_and_learns(mnist_train_small) -> None:
    images = mnist_train_small.images[:512]
    model, history = train_original_denoiser(images, epochs=2, device="cpu", verbose=False)
    again, _ = train_original_denoiser(images, epochs=2, device="cpu", verbose=False)
    assert isinstance(model, OriginalDenoiser) and not model.training and len(history) == 2
    assert history["loss"][1] < history["loss"][0]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_a_missing_published_file_says_how_to_get_it_back(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="git checkout -- .*--retrain-original"):
        original_denoiser(tmp_path / "gone.pt")


def test_every_published_file_has_its_recorded_sha256() -> None:
    """weights/SHA256SUMS lists each published file with its digest: none missing, none stale, none extra."""
    on_disk = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in PUBLISHED.iterdir() if f.name != DIGESTS}
    assert ORIGINAL_DENOISER_WEIGHTS.name in on_disk
    assert recorded_digests() == on_disk


def _damaged_copy(folder: Path) -> Path:
    """The published file and its SHA256SUMS copied to ``folder``, 2,000 bytes of one weight tensor inverted.

    The file stays the same size and a valid checkpoint: only the numbers inside a tensor change.
    """
    shutil.copy(PUBLISHED / DIGESTS, folder / DIGESTS)
    raw = bytearray(ORIGINAL_DENOISER_WEIGHTS.read_bytes())
    with zipfile.ZipFile(ORIGINAL_DENOISER_WEIGHTS) as archive:
        largest = max(archive.infolist(), key=lambda record: record.file_size)
        start = raw.find(archive.read(largest))  # records are stored uncompressed
    for i in range(2_000):
        raw[start + 50 * i] ^= 0xFF
    copy = folder / ORIGINAL_DENOISER_WEIGHTS.name
    copy.write_bytes(raw)
    return copy


def test_damaged_published_weights_are_refused_saying_how_to_restore_them(tmp_path) -> None:
    damaged = _damaged_copy(tmp_path)
    published, _ = original_denoiser()
    # Without the digest the damage is silent: the file loads, with other weights.
    loaded, _ = load_checkpoint(damaged, OriginalDenoiser)
    assert any(not torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), published.state_dict().values()))
    with pytest.raises(CheckpointError) as info:
        original_denoiser(damaged)
    expected = recorded_digests()[damaged.name]
    found = hashlib.sha256(damaged.read_bytes()).hexdigest()
    assert str(info.value) == (
        f"{damaged} is not the published file: its SHA-256 should be {expected} (as recorded in {tmp_path / DIGESTS}), "
        f"found {found}; the file is damaged or was replaced: restore it with `git checkout -- {damaged} "
        f"{tmp_path / DIGESTS}` or retrain it (which records the new digest) with "
        "`python benchmarks/time_to_quality.py denoiser --retrain-original`")
    # The published file itself, and an intact copy beside the same SHA256SUMS, load.
    shutil.copy(ORIGINAL_DENOISER_WEIGHTS, damaged)
    intact, meta = original_denoiser(damaged)
    assert meta["epochs"] == ORIGINAL_DENOISER_RECIPE["epochs"]
    assert all(torch.equal(a, b) for a, b in zip(intact.state_dict().values(), published.state_dict().values()))


def test_weights_without_a_recorded_digest_are_refused_until_one_is_recorded(tmp_path) -> None:
    copy = tmp_path / ORIGINAL_DENOISER_WEIGHTS.name
    shutil.copy(ORIGINAL_DENOISER_WEIGHTS, copy)
    digest = hashlib.sha256(copy.read_bytes()).hexdigest()
    with pytest.raises(CheckpointError) as info:
        original_denoiser(copy)
    assert str(info.value).startswith(f"{tmp_path / DIGESTS} records no SHA-256 for {copy.name} (its SHA-256 is "
                                      f"{digest}), so it cannot be checked as published weights: restore it with")
    # What --retrain-original does after writing new weights: sha256sum's format, so `sha256sum -c` reads it too.
    assert record_digest(copy).read_text() == f"{digest}  {copy.name}\n"
    assert original_denoiser(copy)[1]["epochs"] == ORIGINAL_DENOISER_RECIPE["epochs"]
    (tmp_path / DIGESTS).write_text(f"{digest} {copy.name}\n")  # one space: not sha256sum's format
    with pytest.raises(ValueError, match=r"line 1 of .*SHA256SUMS should be '<64 hex digits>  <file name>' as "
                                         r"sha256sum writes, found '[0-9a-f]{64} 05_original_conv_denoiser.pt'$"):
        original_denoiser(copy)
