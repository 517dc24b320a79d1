"""Reliability across modules: interrupted or diverging training with checkpoints on disk,
repeatable runs, and notebooks that do not depend on files left by other notebooks.

(Single-module cases live beside their module: bad inputs in test_models/test_data,
planted pickle payloads and atomic writes in test_checkpoints, callbacks in test_callbacks.)
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from aenb.callbacks import Callback, ModelCheckpoint
from aenb.checkpoints import load_checkpoint
from aenb.device import seed_everything
from aenb.models import MLPAutoencoder
from aenb.training import fit, mse_loss, predict

ROOT = Path(__file__).resolve().parents[1]


def _model() -> MLPAutoencoder:
    return MLPAutoencoder((784, 32, 4), "tanh")


def test_ctrl_c_keeps_the_best_checkpoint_and_a_usable_model(tmp_path, mnist_train_small, mnist_test_small) -> None:
    class CtrlCAtEpoch3(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 3:
                raise KeyboardInterrupt

    path = tmp_path / "best.pt"
    checkpoint = ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    model = _model()
    history = fit(model, mnist_train_small.images[:1000], epochs=10, batch_size=100,
                  validation_data=mnist_test_small.images[:300], callbacks=[checkpoint, CtrlCAtEpoch3()],
                  generator=seed_everything(0), verbose=False)
    assert history.interrupted and len(history) == 3
    best, meta = load_checkpoint(path, MLPAutoencoder, sizes=[784, 32, 4])
    assert meta["epoch"] == checkpoint.best_epoch + 1
    assert meta["val_loss"] == pytest.approx(min(history["val_loss"]))
    assert predict(model, mnist_test_small.images[:5]).isfinite().all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]  # no temporary files left


def test_divergence_keeps_history_and_best_checkpoint(tmp_path, mnist_train_small, mnist_test_small) -> None:
    calls = {"n": 0}

    def loss(output, target):  # goes infinite in epoch 2 (10 training + 1 validation call per epoch)
        calls["n"] += 1
        value = mse_loss(output, target)
        return value * float("inf") if calls["n"] > 2 * 11 + 5 else value

    path = tmp_path / "best.pt"
    with pytest.raises(FloatingPointError, match=r"batch 5 of epoch 2.*lower learning rate") as info:
        fit(_model(), mnist_train_small.images[:1000], epochs=6, batch_size=100, loss=loss,
            validation_data=mnist_test_small.images[:300], verbose=False,
            callbacks=[ModelCheckpoint(path, save_best_only=True)])
    history = info.value.history
    assert history["loss"][:2] == sorted(history["loss"][:2], reverse=True) and len(history) == 3
    best, meta = load_checkpoint(path, MLPAutoencoder)
    assert meta["epoch"] == 2  # the last good epoch, 1-based
    assert all(torch.isfinite(p).all() for p in best.parameters())


def test_two_cpu_runs_give_identical_histories(mnist_train_small, mnist_test_small) -> None:
    runs = []
    for _ in range(2):
        gen = seed_everything(0)
        model = MLPAutoencoder((784, 128, 64, 12, 3), "tanh")
        runs.append(fit(model, mnist_train_small.images, epochs=2, batch_size=100,
                        validation_data=mnist_test_small.images, generator=gen, device="cpu", verbose=False))
    assert runs[0].history == runs[1].history


def _notebooks_using_checkpoints() -> list[Path]:
    """Notebooks that read a checkpoint (their own or an earlier notebook's)."""
    return [p for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
            if re.search(r"load_checkpoint|basic_autoencoder\(", p.read_text())]


@pytest.mark.parametrize("notebook", _notebooks_using_checkpoints(), ids=lambda p: p.stem)
def test_notebook_runs_without_files_from_other_notebooks(notebook: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A notebook that reuses another's checkpoint must re-create it when it is missing."""
    monkeypatch.setenv("AENB_MODE", "fast")
    monkeypatch.setenv("AENB_CHECKPOINTS", str(tmp_path / "checkpoints"))  # empty: nothing left over
    monkeypatch.setenv("AENB_RESULTS", str(tmp_path / "results"))
    nb = nbformat.read(notebook, as_version=4)
    # The kernel inherits this process's environment, so the variables above reach it.
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(notebook.parent)}}).execute()
    assert (tmp_path / "results" / "fast" / f"{notebook.stem}.json").exists()
