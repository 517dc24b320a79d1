"""fit(), History and callbacks on a small slice of real MNIST."""

from __future__ import annotations

import math

import pytest
import torch

from aenb.callbacks import Callback, LearningRateScheduler, ReconstructionSnapshots
from aenb.device import seed_everything
from aenb.models import MLPAutoencoder
from aenb.training import evaluate, fit, mse_loss, predict


def _small_model() -> MLPAutoencoder:
    return MLPAutoencoder((784, 64, 8), "tanh")


def test_loss_decreases_and_history_has_keras_shape(mnist_train_small, mnist_test_small) -> None:
    gen = seed_everything(0)
    model = _small_model()
    before = evaluate(model, mnist_test_small.images)["loss"]
    history = fit(model, mnist_train_small.images, epochs=3, batch_size=50,
                  validation_data=mnist_test_small.images, generator=gen, verbose=False)
    assert history.epoch == [0, 1, 2]
    assert set(history.history) == {"loss", "val_loss"}
    assert len(history["loss"]) == len(history["val_loss"]) == 3
    assert history["loss"][2] < history["loss"][0]
    assert history["val_loss"][-1] < 0.7 * before
    # val_loss is exactly what evaluate() reports on the same data
    assert history["val_loss"][-1] == pytest.approx(evaluate(model, mnist_test_small.images)["loss"], rel=1e-5)
    assert not history.interrupted and history.stopped_epoch is None and history.seconds > 0
    assert not model.training  # fit hands the model back in eval mode


def test_same_seed_same_history(mnist_train_small) -> None:
    runs = []
    for _ in range(2):
        gen = seed_everything(123)
        model = _small_model()
        runs.append(fit(model, mnist_train_small.images[:600], epochs=2, batch_size=60, generator=gen, verbose=False))
    assert runs[0].history == runs[1].history
    gen = seed_everything(124)
    other = fit(_small_model(), mnist_train_small.images[:600], epochs=2, batch_size=60, generator=gen, verbose=False)
    assert other.history != runs[0].history


def test_validation_split_holds_out_the_last_fraction(mnist_train_small) -> None:
    x = mnist_train_small.images[:500]
    model = _small_model()
    history = fit(model, x, epochs=1, batch_size=50, validation_split=0.2, verbose=False)
    held_out = evaluate(model, x[400:])["loss"]
    assert history["val_loss"][0] == pytest.approx(held_out, rel=1e-5)


def test_supervised_targets_and_input_transform(mnist_train_small) -> None:
    """A denoising setup: noisy inputs, clean targets -- the transform sees every batch."""
    x = mnist_train_small.images[:300]
    seen = []

    def add_noise(xb: torch.Tensor) -> torch.Tensor:
        seen.append(len(xb))
        return (xb + 0.5 * torch.randn_like(xb)).clamp(0, 1)

    fit(_small_model(), x, x.clone(), epochs=1, batch_size=100, input_transform=add_noise, verbose=False)
    assert seen == [100, 100, 100]


def test_dict_losses_are_logged_per_term(mnist_train_small) -> None:
    def loss(output, target):
        mse = mse_loss(output, target)
        return {"loss": mse + 0.0, "mse": mse, "constant": torch.tensor(2.0)}

    history = fit(_small_model(), mnist_train_small.images[:200], epochs=1, batch_size=50, loss=loss,
                  validation_data=mnist_train_small.images[200:300], verbose=False)
    assert set(history.history) == {"loss", "mse", "constant", "val_loss", "val_mse", "val_constant"}
    assert history["constant"] == [2.0]
    assert history["mse"][0] == pytest.approx(history["loss"][0])


def test_callback_hooks_and_stop_training(mnist_train_small) -> None:
    calls: list[str] = []

    class StopAfterTwo(Callback):
        def on_train_begin(self, logs=None):
            calls.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            calls.append(f"begin{epoch}")

        def on_epoch_end(self, epoch, logs=None):
            calls.append(f"end{epoch}")
            assert "loss" in logs
            if epoch == 1:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            calls.append("train_end")

    history = fit(_small_model(), mnist_train_small.images[:200], epochs=10, batch_size=50,
                  callbacks=[StopAfterTwo()], verbose=False)
    assert calls == ["train_begin", "begin0", "end0", "begin1", "end1", "train_end"]
    assert len(history) == 2 and history.stopped_epoch == 1


def test_reconstruction_snapshots_record_chosen_epochs(mnist_train_small) -> None:
    fixed = mnist_train_small.images[:5]
    snaps = ReconstructionSnapshots(fixed, at=[0, 2, 3])
    fit(_small_model(), mnist_train_small.images[:500], epochs=3, batch_size=50, callbacks=[snaps], verbose=False)
    assert [epoch for epoch, _ in snaps.snapshots] == [0, 2, 3]
    first, last = snaps.snapshots[0][1], snaps.snapshots[-1][1]
    assert first.shape == (5, 1, 28, 28)
    assert (last - fixed).pow(2).mean() < (first - fixed).pow(2).mean()


def test_learning_rate_scheduler_sets_and_logs_lr(mnist_train_small) -> None:
    schedule = LearningRateScheduler(lambda epoch, lr: 1e-3 * 0.5**epoch)
    history = fit(_small_model(), mnist_train_small.images[:200], epochs=3, batch_size=50,
                  callbacks=[schedule], verbose=False)
    assert history["lr"] == pytest.approx([1e-3, 5e-4, 2.5e-4])
    bad = LearningRateScheduler(lambda epoch, lr: -1.0)
    with pytest.raises(ValueError, match="learning rate -1.0 for epoch 0"):
        fit(_small_model(), mnist_train_small.images[:100], epochs=1, callbacks=[bad], verbose=False)


def test_ctrl_c_returns_the_history_so_far(mnist_train_small) -> None:
    class PressCtrlC(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    model = _small_model()
    history = fit(model, mnist_train_small.images[:200], epochs=5, batch_size=50,
                  callbacks=[PressCtrlC()], verbose=False)
    assert history.interrupted and len(history) == 2
    assert predict(model, mnist_train_small.images[:4]).shape == (4, 1, 28, 28)  # still usable


def test_diverging_loss_stops_with_advice(mnist_train_small) -> None:
    def exploding(output, target):
        return mse_loss(output, target) * float("nan")

    with pytest.raises(FloatingPointError, match=r"batch 0 of epoch 0.*lower learning rate") as info:
        fit(_small_model(), mnist_train_small.images[:100], epochs=3, batch_size=50, loss=exploding, verbose=False)
    history = info.value.history
    assert len(history) == 1 and math.isnan(history["loss"][0])


def test_divergence_names_the_batch_and_restores_the_last_good_weights(mnist_train_small) -> None:
    """A learning rate far too high: the error says where, and the model stays usable."""
    x = mnist_train_small.images[:1000]
    model = _small_model()

    calls = {"n": 0}

    def loss(output, target):  # an infinite loss at batch 3 of epoch 2 (10 batches per epoch)
        calls["n"] += 1
        value = mse_loss(output, target)
        return value * float("inf") if calls["n"] == 2 * 10 + 4 else value

    expected = r"first non-finite at batch 3 of epoch 2.*lower learning rate"
    with pytest.raises(FloatingPointError, match=expected) as info:
        fit(model, x, epochs=5, batch_size=100, loss=loss, verbose=False)
    assert len(info.value.history) == 3 and info.value.history.stopped_epoch == 2
    assert all(torch.isfinite(p).all() for p in model.parameters())  # Adam had turned them into NaN
    assert predict(model, x[:10]).isfinite().all()


def test_argument_errors(mnist_train_small) -> None:
    x = mnist_train_small.images[:10]
    with pytest.raises(ValueError, match="same length"):
        fit(_small_model(), x, x[:5], epochs=1, verbose=False)
    with pytest.raises(ValueError, match="either validation_data or validation_split"):
        fit(_small_model(), x, epochs=1, validation_data=x, validation_split=0.1, verbose=False)
    with pytest.raises(ValueError, match=r"validation_split must be in \[0, 1\)"):
        fit(_small_model(), x, epochs=1, validation_split=1.5, verbose=False)
