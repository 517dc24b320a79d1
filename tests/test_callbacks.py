"""Keras-style callbacks -- ModelCheckpoint, EarlyStopping, live snapshots --
on small real problems: a small MLP autoencoder trained on a few hundred MNIST digits.

Where a test needs a known sequence of monitored values, a callback listed *before* the one
under test writes them into the logs (``fit`` hands every callback the same logs dict, in
order, as Keras does); the training itself is always real.
"""

from __future__ import annotations

import math

import pytest
import torch

from aenb.callbacks import Callback, EarlyStopping, ModelCheckpoint, ReconstructionSnapshots
from aenb.checkpoints import load_checkpoint, read_checkpoint
from aenb.device import seed_everything
from aenb.models import MLPAutoencoder
from aenb.training import evaluate, fit


def _model() -> MLPAutoencoder:
    return MLPAutoencoder((784, 32, 4), "tanh")


class Scripted(Callback):
    """Puts ``values[epoch]`` into ``logs[key]``, standing in for a metric we control."""

    def __init__(self, values: list[float], key: str = "score") -> None:
        self.values, self.key = values, key

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class WeightRecorder(Callback):
    """Keeps a copy of the weights at the end of every epoch."""

    def __init__(self) -> None:
        self.states: list[dict[str, torch.Tensor]] = []

    def on_epoch_end(self, epoch, logs=None):
        self.states.append({k: v.detach().clone() for k, v in self.model.state_dict().items()})


def _same_weights(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


@pytest.fixture(scope="module")
def digits(mnist_train_small):
    return mnist_train_small.images[:400]


# ----------------------------------------------------------------------------- ModelCheckpoint


def test_checkpoint_best_only_saves_exactly_at_improvements(digits, tmp_path, capsys) -> None:
    scores = [0.50, 0.40, 0.45, 0.30, 0.30, 0.35]  # improvements at epochs 0, 1, 3 (a tie is none)
    ckpt = ModelCheckpoint(tmp_path / "ae-{epoch:02d}-{score:.2f}.pt", monitor="score", save_best_only=True, verbose=1)
    fit(_model(), digits, epochs=6, batch_size=100, callbacks=[Scripted(scores), ckpt], verbose=False)
    assert [epoch for epoch, _ in ckpt.saved] == [0, 1, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ae-01-0.50.pt", "ae-02-0.40.pt", "ae-04-0.30.pt"]
    assert ckpt.best == 0.30 and ckpt.best_epoch == 3
    assert read_checkpoint(tmp_path / "ae-04-0.30.pt")["metadata"]["epoch"] == 4
    out = capsys.readouterr().out
    assert "Epoch 00001: score improved from inf to 0.50000, saving model to" in out
    assert "Epoch 00004: score improved from 0.40000 to 0.30000, saving model to" in out
    assert "Epoch 00005: score did not improve from 0.30000" in out


def test_checkpoint_of_real_training_holds_the_best_epoch(digits, tmp_path) -> None:
    """The file left behind is the best epoch's model: reloaded, it scores min(val_loss)."""
    gen = seed_everything(0)
    path = tmp_path / "best.pt"
    ckpt = ModelCheckpoint(path, save_best_only=True)  # monitor="val_loss", mode auto -> min
    history = fit(_model(), digits, epochs=5, batch_size=50, lr=3e-3, validation_split=0.25, callbacks=[ckpt],
                  generator=gen, verbose=False)
    val = history["val_loss"]
    improvements = [e for e in range(len(val)) if val[e] < min(val[:e], default=math.inf)]
    assert [e for e, _ in ckpt.saved] == improvements
    model, meta = load_checkpoint(path, MLPAutoencoder, sizes=[784, 32, 4])
    assert meta["epoch"] == improvements[-1] + 1 and meta["val_loss"] == pytest.approx(min(val))
    assert evaluate(model, digits[300:])["loss"] == pytest.approx(min(val), rel=1e-5)


def test_checkpoint_every_epoch_and_bad_path(digits, tmp_path) -> None:
    ckpt = ModelCheckpoint(tmp_path / "e{epoch:03d}.pt")  # save_best_only=False: every epoch
    fit(_model(), digits, epochs=3, batch_size=100, callbacks=[ckpt], verbose=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e001.pt", "e002.pt", "e003.pt"]
    bad = ModelCheckpoint(tmp_path / "{val_loss:.3f}.pt")
    with pytest.raises(KeyError, match=r"no 'val_loss' in the logs; available: epoch, loss"):
        fit(_model(), digits, epochs=1, batch_size=100, callbacks=[bad], verbose=False)


def test_missing_monitor_warns_with_the_available_keys(digits, tmp_path) -> None:
    ckpt = ModelCheckpoint(tmp_path / "x.pt", save_best_only=True)
    stop = EarlyStopping(patience=0)
    with pytest.warns(RuntimeWarning, match=r"monitors 'val_loss'.*validation_split.*available: \['loss'\]"):
        history = fit(_model(), digits, epochs=3, batch_size=100, callbacks=[ckpt, stop], verbose=False)
    assert ckpt.saved == [] and len(history) == 3 and stop.stopped_epoch == 0


# ------------------------------------------------------------------------------- EarlyStopping


def test_early_stopping_counts_patience_from_the_best_epoch(digits, capsys) -> None:
    scores = [0.9, 0.8, 0.5, 0.6, 0.55, 0.51, 0.4, 0.3]  # best 0.5 at epoch 2, then 3 epochs without
    stop = EarlyStopping(monitor="score", patience=3, verbose=1)
    history = fit(_model(), digits, epochs=8, batch_size=100, callbacks=[Scripted(scores), stop], verbose=False)
    assert stop.best_epoch == 2 and stop.stopped_epoch == 2 + 3
    assert len(history) == 6 and history.stopped_epoch == 5
    assert "Epoch 00006: early stopping" in capsys.readouterr().out


def test_early_stopping_min_delta_and_reuse(digits) -> None:
    # Gains of 0.005 are below min_delta=0.01: only epoch 0 counts, so it stops at epoch 2.
    stop = EarlyStopping(monitor="score", min_delta=0.01, patience=2)
    scores = [0.5, 0.495, 0.49, 0.485, 0.48]
    fit(_model(), digits, epochs=5, batch_size=100, callbacks=[Scripted(scores), stop], verbose=False)
    assert (stop.best_epoch, stop.stopped_epoch) == (0, 2)
    # The same instance in a second fit starts from scratch.
    history = fit(_model(), digits, epochs=3, batch_size=100,
                  callbacks=[Scripted([0.9, 0.8, 0.7, 0.6, 0.5, 0.4]), stop], verbose=False)
    assert stop.stopped_epoch == 0 and len(history) == 3


def test_restore_best_weights_after_an_early_stop(digits, capsys) -> None:
    gen = seed_everything(1)
    model, weights = _model(), WeightRecorder()
    stop = EarlyStopping(monitor="score", patience=2, restore_best_weights=True, verbose=1)
    fit(model, digits, epochs=10, batch_size=50, callbacks=[Scripted([0.5, 0.2, 0.3, 0.4, 0.1]), weights, stop],
        generator=gen, verbose=False)
    assert stop.stopped_epoch == 3 and len(weights.states) == 4
    assert _same_weights(model, weights.states[1]) and not _same_weights(model, weights.states[3])
    assert "Restoring model weights from the end of the best epoch: 2." in capsys.readouterr().out


def test_restore_best_weights_without_an_early_stop_follows_keras3(digits) -> None:
    """Keras 3 restores at the end of training even when all epochs ran."""
    gen = seed_everything(2)
    model = _model()
    stop = EarlyStopping(patience=100, restore_best_weights=True)  # never stops
    history = fit(model, digits, epochs=5, batch_size=50, lr=1e-2, validation_split=0.25, callbacks=[stop],
                  generator=gen, verbose=False)
    assert stop.stopped_epoch == 0 and len(history) == 5
    best = min(range(5), key=lambda e: history["val_loss"][e])
    assert stop.best_epoch == best
    assert evaluate(model, digits[300:])["loss"] == pytest.approx(history["val_loss"][best], rel=1e-5)


def test_early_stopping_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="patience must be an int >= 0, got -1"):
        EarlyStopping(patience=-1)


# --------------------------------------------------------------------- live reconstructions


def test_snapshots_can_be_shown_while_training(digits, monkeypatch) -> None:
    import IPython.display

    shown: list[tuple[str, object]] = []

    class Handle:
        def update(self, obj):
            shown.append(("update", obj))

    def fake_display(obj, display_id=None):
        shown.append(("display", obj))
        return Handle()

    monkeypatch.setattr(IPython.display, "display", fake_display)
    snaps = ReconstructionSnapshots(digits[:4], at=[0, 1, 3], show=2)
    fit(_model(), digits, epochs=3, batch_size=100, callbacks=[snaps], verbose=False)
    assert [kind for kind, _ in shown] == ["display", "update", "update"]
    figure = shown[-1][1]
    assert [ax.get_ylabel() for ax in figure.axes] == ["input", "epoch 1", "epoch 3"]  # the latest two
    assert figure.get_suptitle() == "Reconstructions during training"
    with pytest.raises(ValueError, match="show must be >= 0"):
        ReconstructionSnapshots(digits[:4], show=-1)
