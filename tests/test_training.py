"""fit(), History, schedulers, the NaN policy, speed settings and predict() on a small slice of real MNIST."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LambdaLR, ReduceLROnPlateau

from aenb.callbacks import Callback, EarlyStopping, ReconstructionSnapshots
from aenb.device import seed_everything
from aenb.inference import predict, reconstruct
from aenb.models import VAE, ConvAutoencoder, MLPAutoencoder
from aenb.models.common import binary_cross_entropy
from aenb.training import History, bce_loss, evaluate, fit, mse_loss


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
    assert not hasattr(model, "stop_training")  # and leaves no attribute of its own on it


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


# ------------------------------------------------------------------------------- schedulers


def test_scheduler_sets_and_logs_the_rate_of_each_epoch(mnist_train_small) -> None:
    x = mnist_train_small.images[:200]
    history = fit(_small_model(), x, epochs=3, batch_size=50, verbose=False,
                  scheduler=lambda opt: LambdaLR(opt, lambda epoch: 0.5**epoch))
    assert history["lr"] == pytest.approx([1e-3, 5e-4, 2.5e-4])
    # warm-up then constant, and a cosine decay on an optimizer of our own
    history = fit(_small_model(), x, epochs=4, batch_size=50, lr=3e-3, verbose=False,
                  scheduler=lambda opt: LambdaLR(opt, lambda e: min(1.0, (e + 1) / 3)))
    assert history["lr"] == pytest.approx([1e-3, 2e-3, 3e-3, 3e-3])
    model = _small_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    history = fit(model, x, epochs=2, batch_size=50, optimizer=optimizer, scheduler=CosineAnnealingLR(optimizer, 2),
                  verbose=False)
    assert history["lr"] == pytest.approx([2e-3, 1e-3])


def test_reduce_lr_on_plateau_watches_val_loss(mnist_train_small) -> None:
    seen: list[float] = []

    class Recording(ReduceLROnPlateau):
        def step(self, metrics):  # type: ignore[override]
            seen.append(float(metrics))
            super().step(metrics)

    x = mnist_train_small.images[:300]
    history = fit(_small_model(), x, epochs=3, batch_size=50, validation_split=0.2, verbose=False,
                  scheduler=lambda opt: Recording(opt, factor=0.5, patience=0, threshold=10.0))  # never "improves"
    assert seen == history["val_loss"]
    assert history["lr"] == pytest.approx([1e-3, 5e-4, 2.5e-4])


def test_scheduler_errors_before_training(mnist_train_small) -> None:
    x = mnist_train_small.images[:100]
    other = torch.optim.Adam(_small_model().parameters())
    with pytest.raises(ValueError, match="the scheduler was built on another optimizer"):
        fit(_small_model(), x, epochs=1, scheduler=CosineAnnealingLR(other, 2), verbose=False)
    with pytest.raises(TypeError, match="scheduler must be a torch.optim.lr_scheduler object"):
        fit(_small_model(), x, epochs=1, scheduler=0.5, verbose=False)
    with pytest.raises(TypeError, match="scheduler\\(optimizer\\) must return"):
        fit(_small_model(), x, epochs=1, scheduler=lambda opt: 0.1, verbose=False)


# --------------------------------------------------------------------------- NaN policy, Ctrl-C


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


def _infinite_at(batch: int, base=mse_loss):
    """A loss that turns infinite at the given (global, 0-based) call -- one call per training batch."""
    calls = {"n": 0}

    def loss(output, target):
        calls["n"] += 1
        value = base(output, target)
        return value * float("inf") if calls["n"] == batch + 1 else value

    return loss


def test_divergence_names_the_batch_and_restores_the_last_good_weights(mnist_train_small) -> None:
    """A loss gone infinite at batch 3 of epoch 2: the error says where, and the model stays usable."""
    x = mnist_train_small.images[:1000]
    model = _small_model()
    expected = r"first non-finite at batch 3 of epoch 2.*lower learning rate"
    with pytest.raises(FloatingPointError, match=expected) as info:
        fit(model, x, epochs=5, batch_size=100, loss=_infinite_at(2 * 10 + 3), verbose=False)
    assert len(info.value.history) == 3 and info.value.history.stopped_epoch == 2
    assert all(torch.isfinite(p).all() for p in model.parameters())  # Adam had turned them into NaN
    assert predict(model, x[:10]).isfinite().all()


def test_on_nan_stop_returns_with_the_last_good_weights(mnist_train_small, capsys) -> None:
    x = mnist_train_small.images[:400]

    class Weights(Callback):
        def __init__(self):
            self.states, self.epochs = [], []

        def on_epoch_end(self, epoch, logs=None):
            self.states.append({k: v.clone() for k, v in self.model.state_dict().items()})
            self.epochs.append(epoch)

    weights = Weights()
    model = _small_model()
    history = fit(model, x, epochs=6, batch_size=100, loss=_infinite_at(2 * 4 + 1), on_nan="stop",
                  callbacks=[weights], verbose=False)
    assert len(history) == 3 and history.stopped_epoch == 2 and not math.isfinite(history["loss"][2])
    assert weights.epochs == [0, 1]  # callbacks never see the diverged epoch
    assert all(torch.equal(v, weights.states[-1][k]) for k, v in model.state_dict().items())
    assert "stopped: loss became nan (first non-finite at batch 1 of epoch 2)" in capsys.readouterr().out
    with pytest.raises(ValueError, match="on_nan must be one of 'raise', 'stop', got 'ignore'"):
        fit(model, x, epochs=1, on_nan="ignore", verbose=False)


class Lifecycle(Callback):
    """Records the hooks fit calls; stops training or presses Ctrl-C at a chosen epoch."""

    def __init__(self, stop_at: int | None = None, interrupt_at: int | None = None) -> None:
        self.calls: list[str] = []
        self.stop_at, self.interrupt_at = stop_at, interrupt_at

    def on_train_begin(self, logs=None):
        self.calls.append("begin")

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.interrupt_at:
            raise KeyboardInterrupt

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.stop_at:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.calls.append("end")


@pytest.mark.parametrize("exit_path", ["all epochs", "a callback stops", "diverged, raise", "diverged, stop",
                                       "Ctrl-C"])
def test_every_exit_leaves_the_documented_state(mnist_train_small, exit_path) -> None:
    """Whatever ends training: on_train_end ran once, the model is in eval mode, fit's Keras flag is gone,
    speed-ups are undone (conv weights contiguous again)."""
    x = mnist_train_small.images[:300]
    model = ConvAutoencoder(latent_dim=4)
    callback = Lifecycle(stop_at=1 if exit_path == "a callback stops" else None,
                         interrupt_at=1 if exit_path == "Ctrl-C" else None)
    on_nan = "stop" if exit_path == "diverged, stop" else "raise"
    loss = _infinite_at(3 + 1) if exit_path.startswith("diverged") else mse_loss  # batch 1 of epoch 1
    if exit_path == "diverged, raise":
        with pytest.raises(FloatingPointError, match="batch 1 of epoch 1"):
            fit(model, x, epochs=3, batch_size=100, loss=loss, callbacks=[callback], verbose=False)
    else:
        history = fit(model, x, epochs=3, batch_size=100, loss=loss, on_nan=on_nan, callbacks=[callback],
                      verbose=False)
        assert len(history) == {"all epochs": 3, "a callback stops": 2, "diverged, stop": 2, "Ctrl-C": 1}[exit_path]
        assert history.interrupted == (exit_path == "Ctrl-C")
    assert callback.calls == ["begin", "end"]
    assert not model.training
    assert not hasattr(model, "stop_training")
    assert all(p.is_contiguous() for p in model.parameters())


def test_early_stopping_restores_the_best_weights_after_a_divergence(mnist_train_small) -> None:
    """The raise path runs on_train_end too, so EarlyStopping puts its best epoch's weights back (epoch 1 here),
    not the last good epoch's (2) that the divergence guard restores."""
    x = mnist_train_small.images[:400]

    class ScoreAndWeights(Callback):
        def __init__(self):
            self.states = []

        def on_epoch_end(self, epoch, logs=None):
            logs["score"] = [0.5, 0.3, 0.4][epoch]  # best at epoch 1
            self.states.append({k: v.clone() for k, v in self.model.state_dict().items()})

    model, recorder = _small_model(), ScoreAndWeights()
    stop = EarlyStopping(monitor="score", patience=5, restore_best_weights=True)
    with pytest.raises(FloatingPointError, match="batch 0 of epoch 3"):
        fit(model, x, epochs=6, batch_size=100, loss=_infinite_at(3 * 4), callbacks=[recorder, stop], verbose=False)
    assert stop.best_epoch == 1
    assert all(torch.equal(v, recorder.states[1][k]) for k, v in model.state_dict().items())
    assert not all(torch.equal(v, recorder.states[2][k]) for k, v in model.state_dict().items())


def test_validation_with_targets_needs_target_pairs(mnist_train_small) -> None:
    """A denoiser trained on (noisy, clean) pairs: validation images alone would be scored against themselves,
    so fit refuses them; the pair (noisy_val, clean_val) gives the val_loss evaluate reports for that pair."""
    clean = mnist_train_small.images[:600]
    noisy = (clean + 0.5 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    model = _small_model()
    with pytest.raises(ValueError, match=r"validation_data holds inputs only.*validation_data=\(x_val, y_val\)"):
        fit(model, noisy[:500], clean[:500], epochs=1, validation_data=noisy[500:], verbose=False)
    history = fit(model, noisy[:500], clean[:500], epochs=2, validation_data=(noisy[500:], clean[500:]),
                  verbose=False)
    right = evaluate(model, noisy[500:], clean[500:])["loss"]
    wrong = evaluate(model, noisy[500:], noisy[500:])["loss"]
    assert history["val_loss"][-1] == pytest.approx(right, rel=1e-5)
    assert wrong != pytest.approx(right, rel=0.05)  # what the old behaviour reported: another number
    split = fit(_small_model(), noisy, clean, epochs=1, validation_split=0.2, verbose=False)  # splits both
    assert "val_loss" in split.history


def test_bce_on_nan_probabilities_is_a_nan_loss_not_a_torch_error() -> None:
    probs = torch.tensor([0.2, float("nan"), 0.9])
    target = torch.tensor([0.0, 1.0, 1.0])
    assert torch.isnan(binary_cross_entropy(probs, target))
    finite = torch.tensor([0.2, 0.6, 0.9], requires_grad=True)
    ours = binary_cross_entropy(finite, target)
    ours.backward()
    expected = torch.nn.functional.binary_cross_entropy(finite.detach().requires_grad_(), target)
    assert torch.equal(ours.detach(), expected.detach())
    with pytest.raises(RuntimeError, match="between 0 and 1"):  # a wrong output range is still torch's error
        binary_cross_entropy(torch.tensor([1.5]), torch.tensor([1.0]))


# ------------------------------------------------------------------------------ speedups, History


def test_speedups_are_undone_when_fit_returns(mnist_train_small) -> None:
    model = ConvAutoencoder(4)
    threads, benchmark = torch.get_num_threads(), torch.backends.cudnn.benchmark
    seen = []

    class Layout(Callback):
        def on_epoch_end(self, epoch, logs=None):
            weight = next(p for p in self.model.parameters() if p.ndim == 4 and p.shape[1] > 1)
            seen.append(weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous())

    fit(model, mnist_train_small.images[:64], epochs=1, batch_size=32, callbacks=[Layout()], verbose=False)
    assert seen == [True]  # channels-last while training
    assert all(p.is_contiguous() for p in model.parameters())  # the default layout again
    assert (torch.get_num_threads(), torch.backends.cudnn.benchmark) == (threads, benchmark)
    seen.clear()
    fit(model, mnist_train_small.images[:64], epochs=1, batch_size=32, callbacks=[Layout()], speedups=False,
        verbose=False)
    assert seen == [False]


def test_histories_concatenate() -> None:
    a = History({"loss": [3.0, 2.0]}, [0, 1], seconds=1.0)
    b = History({"loss": [1.5], "lr": [1e-4]}, [0], stopped_epoch=0, seconds=0.5)
    both = a + b
    assert both.epoch == [0, 1, 2] and both["loss"] == [3.0, 2.0, 1.5] and both.seconds == 1.5
    assert both.stopped_epoch == 2 and math.isnan(both["lr"][0]) and both["lr"][2] == 1e-4
    assert a.concat(b).history.keys() == both.history.keys()


def test_progress_is_one_summary_line_in_a_terminal(mnist_train_small, capsys) -> None:
    fit(_small_model(), mnist_train_small.images[:100], epochs=2, batch_size=50, validation_split=0.5)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("2 epochs in ") and " - loss " in out[0] and " - val_loss " in out[0]


def test_stored_notebook_output_is_the_summary_not_a_bar(tmp_path) -> None:
    """nbclient applies the display update to the saved output: "N epochs in ...", never "0%|"."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import torch\nfrom aenb.models import MLPAutoencoder\nfrom aenb.training import fit\n"
        "torch.manual_seed(0)\nhistory = fit(MLPAutoencoder((784, 8, 2)), torch.rand(60, 1, 28, 28), epochs=3, "
        "batch_size=20, device='cpu')")]
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    stored = json.dumps(nb.cells[0].outputs)
    assert "3 epochs in " in stored and " - loss " in stored
    assert "0%" not in stored and "it/s" not in stored and "epoch/s" not in stored


# ------------------------------------------------------------------------------ predict contract


def test_predict_moves_batches_restores_the_mode_and_passes_tuples(mnist_test_small) -> None:
    vae = VAE((784, 32, 2)).train()
    x = mnist_test_small.images[:250]
    x_hat, mu, logvar = predict(vae, x, batch_size=100)
    assert vae.training  # its mode is restored
    assert x_hat.shape == (250, 1, 28, 28) and mu.shape == logvar.shape == (250, 2)
    means, _ = predict(vae.encode, x)
    torch.testing.assert_close(means, mu)
    torch.testing.assert_close(reconstruct(vae, x), x_hat)  # eval mode: decoded from the means
    assert reconstruct(vae, x).requires_grad is False and x_hat.device.type == "cpu"
    torch.testing.assert_close(predict(vae.decode, means), x_hat)
    # numpy arrays and Splits are accepted as they are
    torch.testing.assert_close(reconstruct(vae, x.numpy()), x_hat)
    torch.testing.assert_close(reconstruct(vae, mnist_test_small)[:250], x_hat)
    with pytest.raises(TypeError, match=r"predict expects a model or a method of one.*predict\(vae.encode, x\)\[0\]"):
        predict(lambda images: vae.encode(images)[0], x)
    with pytest.raises(ValueError, match=r"x is empty \(shape \(0, 1, 28, 28\)\)"):
        predict(vae, x[:0])
    with pytest.raises(TypeError, match=r"x has dtype torch.uint8: expected float images in \[0, 1\]; "
                                        r"convert with x.float\(\) / 255"):
        evaluate(vae, (x * 255).to(torch.uint8))


def test_keras_strings_for_loss_and_optimizer(mnist_train_small) -> None:
    x = mnist_train_small.images[:200]

    def run(loss) -> str:
        gen = seed_everything(0)
        return json.dumps(fit(_small_model(), x, epochs=1, batch_size=50, loss=loss, generator=gen,
                              verbose=False).history)

    assert run("mse") == run("mean_squared_error") == run(mse_loss)
    assert run("binary_crossentropy") == run("bce") == run(bce_loss)
    for optimizer in ("adam", "adamw", "sgd"):
        assert len(fit(_small_model(), x, epochs=1, optimizer=optimizer, verbose=False)) == 1
    with pytest.raises(ValueError, match=r"unknown loss 'mae': accepted strings are 'mse', 'mean_squared_error', "
                                         r"'binary_crossentropy', 'bce' \(torch.nn.functional.mse_loss"):
        fit(_small_model(), x, epochs=1, loss="mae", verbose=False)
    expected = (r"unknown optimizer 'rmsprop': accepted strings are 'adam', 'adamw', 'sgd' "
                r"\(torch.optim.Adam / AdamW / SGD at lr\), or pass any torch.optim optimizer")
    with pytest.raises(ValueError, match=expected):
        fit(_small_model(), x, epochs=1, optimizer="rmsprop", verbose=False)
    assert np.isfinite(evaluate(_small_model(), x, loss="bce")["loss"])


def test_argument_errors(mnist_train_small) -> None:
    x = mnist_train_small.images[:10]
    with pytest.raises(ValueError, match="same length"):
        fit(_small_model(), x, x[:5], epochs=1, verbose=False)
    with pytest.raises(ValueError, match="either validation_data or validation_split"):
        fit(_small_model(), x, epochs=1, validation_data=x, validation_split=0.1, verbose=False)
    with pytest.raises(ValueError, match=r"validation_split must be in \[0, 1\)"):
        fit(_small_model(), x, epochs=1, validation_split=1.5, verbose=False)


def test_predict_runs_conv_models_channels_last_and_puts_the_weights_back(mnist_test_small) -> None:
    torch.manual_seed(0)
    model = ConvAutoencoder(10).train()
    x = mnist_test_small.images[:300]
    with torch.no_grad():
        expected = model.eval()(x)
    model.train()
    out = predict(model, x, batch_size=128)
    assert torch.allclose(out, expected, atol=1e-5) and out.is_contiguous()
    assert model.training  # the mode is restored...
    weights = [p for p in model.parameters() if p.ndim == 4]
    assert weights and all(p.is_contiguous() for p in weights)  # ...and so is the memory format
