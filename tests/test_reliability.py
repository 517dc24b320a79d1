"""Reliability across modules: interrupted or diverging training with checkpoints on disk, repeatable
runs, and every bad input to fit / evaluate / predict refused with a clear message before the model changes.

(Single-module cases live beside their module: bad inputs in test_models/test_data, planted pickle
payloads and atomic writes in test_checkpoints, callbacks in test_callbacks. Whether a notebook runs
without the files of other notebooks is checked by the nbval run, which starts from empty folders.)
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from aenb.callbacks import Callback, ModelCheckpoint
from aenb.checkpoints import load_checkpoint
from aenb.device import seed_everything
from aenb.inference import predict
from aenb.models import VAE, MLPAutoencoder
from aenb.models.vae import VAELoss
from aenb.training import bce_loss, evaluate, fit, mse_loss


def _model() -> MLPAutoencoder:
    return MLPAutoencoder((784, 32, 4), "tanh")


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _unchanged(model: nn.Module, state: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


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


# ------------------------------------------------------------------ divergence guard for every loss


def _nan_output_at(call: int, loss_fn):
    """``loss_fn`` whose model output turns NaN at the given 0-based call: a model gone non-finite."""
    calls = {"n": 0}

    def loss(output, target):
        calls["n"] += 1
        if calls["n"] == call + 1:
            output = tuple(o * float("nan") for o in output) if isinstance(output, tuple) else output * float("nan")
        return loss_fn(output, target)

    return loss


@pytest.mark.parametrize("kind", ["bce_loss", "VAELoss('bce')"])
def test_bce_divergence_gets_the_guard_not_a_torch_error(kind, mnist_train_small) -> None:
    """NaN probabilities used to die in torch ("all elements of input should be between 0 and 1")."""
    x = mnist_train_small.images[:400]
    model, base = (_model(), bce_loss) if kind == "bce_loss" else (VAE((784, 32, 2)), VAELoss("bce"))
    expected = r"first non-finite at batch 2 of epoch 1\): training diverged"
    with pytest.raises(FloatingPointError, match=expected) as info:
        fit(model, x, epochs=4, batch_size=100, loss=_nan_output_at(4 + 2, base), verbose=False)
    assert len(info.value.history) == 2 and info.value.history.stopped_epoch == 1
    assert all(torch.isfinite(p).all() for p in model.parameters())  # the weights of epoch 0


def test_a_huge_learning_rate_with_bce_ends_finite_or_with_the_guard(mnist_train_small) -> None:
    model = _model()
    try:
        history = fit(model, mnist_train_small.images[:400], epochs=3, batch_size=50, lr=1e6, loss="bce",
                      optimizer="sgd", verbose=False)
        assert all(math.isfinite(v) for v in history["loss"])
    except FloatingPointError as error:
        assert "training diverged" in str(error) and error.history is not None  # type: ignore[attr-defined]
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_nan_in_the_inputs_is_a_data_error_not_a_learning_rate(mnist_train_small) -> None:
    x = mnist_train_small.images[:200].clone()
    x[7, 0, 3, 3] = float("nan")
    model = _model()
    state = _state(model)
    with pytest.raises(ValueError, match=r"x holds 1 NaN or infinite values \(first in sample 7\): the data are "
                                         r"broken, fix them before training") as info:
        fit(model, x, epochs=1, verbose=False)
    assert "learning rate" not in str(info.value) and _unchanged(model, state)
    with pytest.raises(ValueError, match="validation_data holds 1 NaN"):
        fit(model, x[8:], epochs=1, validation_data=x[:8], verbose=False)


# ------------------------------------------------------- bad numbers: refused before anything runs


@pytest.mark.parametrize("kwargs, error, message", [
    ({"batch_size": -5}, ValueError, "batch_size must be >= 1, got -5"),
    ({"batch_size": 0}, ValueError, "batch_size must be >= 1, got 0"),
    ({"batch_size": 2.5}, TypeError, r"batch_size must be an int, got 2.5 \(float\)"),
    ({"epochs": -1}, ValueError, "epochs must be >= 0, got -1"),
    ({"epochs": 1.5}, TypeError, r"epochs must be an int, got 1.5 \(float\)"),
    ({"epochs": True}, TypeError, r"epochs must be an int, got True \(bool\)"),
    ({"lr": 0}, ValueError, r"lr must be a finite number > 0 \(e.g. 1e-3\), got 0"),
    ({"lr": -1e-3}, ValueError, "lr must be a finite number > 0"),
    ({"lr": float("nan")}, ValueError, "lr must be a finite number > 0 .*got nan"),
    ({"lr": float("inf")}, ValueError, "lr must be a finite number > 0 .*got inf"),
    ({"lr": "1e-3"}, ValueError, "lr must be a finite number > 0 .*got '1e-3'"),
])
def test_bad_numbers_are_refused_and_nothing_is_written(kwargs, error, message, tmp_path, mnist_train_small) -> None:
    model = _model()
    state = _state(model)
    args = {"epochs": 1, "batch_size": 100, **kwargs}
    with pytest.raises(error, match=message):
        fit(model, mnist_train_small.images[:200], callbacks=[ModelCheckpoint(tmp_path / "c.pt")], verbose=False,
            **args)
    assert list(tmp_path.iterdir()) == [] and _unchanged(model, state)


def test_an_empty_x_is_refused(mnist_train_small, tmp_path) -> None:
    with pytest.raises(ValueError, match=r"x is empty \(shape \(0, 1, 28, 28\)\): expected at least one sample"):
        fit(_model(), mnist_train_small.images[:0], epochs=1, callbacks=[ModelCheckpoint(tmp_path / "c.pt")],
            verbose=False)
    with pytest.raises(ValueError, match="validation_split=0.5 leaves 1 training and 0 validation samples of 1"):
        fit(_model(), mnist_train_small.images[:1], epochs=1, validation_split=0.5, verbose=False)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------ a diverged model is never saved


def test_on_nan_stop_never_saves_the_diverged_model(tmp_path, mnist_train_small) -> None:
    x = mnist_train_small.images[:400]
    model = _model()
    checkpoint = ModelCheckpoint(tmp_path / "last.pt")  # every epoch, one file
    history = fit(model, x, epochs=6, batch_size=100, loss=_nan_output_at(2 * 4 + 1, mse_loss), on_nan="stop",
                  callbacks=[checkpoint], verbose=False)
    assert history.stopped_epoch == 2 and [e for e, _ in checkpoint.saved] == [0, 1]
    saved, meta = load_checkpoint(tmp_path / "last.pt", MLPAutoencoder)
    assert meta["epoch"] == 2 and all(torch.isfinite(p).all() for p in saved.parameters())
    assert all(torch.equal(a, b) for a, b in zip(saved.state_dict().values(), model.state_dict().values()))


# ------------------------------------------------------------------- silent wrong training, refused


def test_images_in_0_255_are_refused(mnist_train_small) -> None:
    x = mnist_train_small.images[:200] * 255
    with pytest.raises(ValueError, match=r"expected images scaled to \[0, 1\] as load_dataset returns them; "
                                         r"got max 255.0 in x — divide by 255"):
        fit(_model(), x, epochs=1, verbose=False)
    with pytest.raises(ValueError, match=r"got min -1.0 in x"):
        fit(_model(), mnist_train_small.images[:200] * 2 - 1, epochs=1, verbose=False)


def test_an_optimizer_of_another_model_is_refused(mnist_train_small) -> None:
    model, other = _model(), _model()
    with pytest.raises(ValueError, match="the optimizer's parameters are not this model's: build it on the model "
                                         r"you pass to fit, e.g. torch.optim.Adam\(model.parameters\(\), lr=1e-3\)"):
        fit(model, mnist_train_small.images[:200], epochs=1, optimizer=torch.optim.Adam(other.parameters()),
            verbose=False)
    # a subset of this model's parameters is fine (e.g. a frozen encoder)
    decoder_only = torch.optim.Adam(model.decoder.parameters())
    assert len(fit(model, mnist_train_small.images[:200], epochs=1, optimizer=decoder_only, verbose=False)) == 1


def test_targets_of_another_shape_are_refused_without_changing_the_model(mnist_train_small) -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.BatchNorm1d(16), nn.Linear(16, 784), nn.Sigmoid(),
                          nn.Unflatten(1, (1, 28, 28)))
    x = mnist_train_small.images[:100]
    state = _state(model)
    with pytest.raises(ValueError, match=r"the model's output has shape \(N, 1, 28, 28\) but y has shape \(100, 784\): "
                                         r"pass targets shaped like the model's output"):
        fit(model, x, x.reshape(100, 784), epochs=1, verbose=False)
    assert _unchanged(model, state)  # BatchNorm's running statistics too
    with pytest.raises(ValueError, match=r"validation images have shape \(10, 784\) but x has \(100, 1, 28, 28\)"):
        fit(model, x, epochs=1, validation_data=x[:10].reshape(10, 784), verbose=False)


# ----------------------------------------------- every argument checked before the model is touched


def test_numpy_arrays_and_splits_are_accepted(mnist_train_small) -> None:
    x = mnist_train_small.images[:200]
    runs = []
    for data in (x, x.numpy(), x.double().numpy()):
        gen = seed_everything(0)
        runs.append(fit(_model(), data, epochs=1, batch_size=50, generator=gen, verbose=False).history)
    gen = seed_everything(0)
    split = mnist_train_small
    runs.append(fit(_model(), split, epochs=1, batch_size=50, generator=gen, verbose=False).history)
    assert runs[0] == runs[1] == runs[2] and len(runs[3]["loss"]) == 1
    assert evaluate(_model(), split)["loss"] > 0


@pytest.mark.parametrize("make, error, message", [
    (lambda x: (x * 255).to(torch.uint8), TypeError,
     r"x has dtype torch.uint8: expected float images in \[0, 1\]; convert with x.float\(\) / 255"),
    (lambda x: x.tolist(), TypeError, "x must be a torch.Tensor, a numpy array or an aenb.data.Split .*got list"),
    (lambda x: x[:, 0], ValueError, r"expects images of shape \(N, 1, 28, 28\) or \(N, 784\), got \(2, 28, 28\)"),
])
def test_bad_inputs_are_explained(make, error, message, mnist_train_small) -> None:
    model = _model()
    state = _state(model)
    with pytest.raises(error, match=message):
        fit(model, make(mnist_train_small.images[:50]), epochs=1, verbose=False)
    assert _unchanged(model, state)


def test_validation_data_of_the_wrong_type_fails_before_training(mnist_train_small) -> None:
    """A dataset object used to fail only at validation time, after the weights had changed."""
    dataset = torch.utils.data.TensorDataset(mnist_train_small.images[:100])
    model = _model()
    state = _state(model)
    with pytest.raises(TypeError, match=r"validation_data must be images \(a tensor, numpy array or Split\) or a pair "
                                        r"\(x_val, y_val\), got TensorDataset"):
        fit(model, mnist_train_small.images[:200], epochs=1, validation_data=dataset, verbose=False)
    with pytest.raises(ValueError, match=r"validation_data as a tuple must be \(x_val, y_val\), got 3 items"):
        fit(model, mnist_train_small.images[:200], epochs=1, validation_data=(1, 2, 3), verbose=False)
    with pytest.raises(TypeError, match="callbacks must be aenb.callbacks.Callback objects, got function"):
        fit(model, mnist_train_small.images[:200], epochs=1, callbacks=[lambda epoch: None], verbose=False)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got function"):
        fit(lambda x: x, mnist_train_small.images[:200], epochs=1, verbose=False)
    assert _unchanged(model, state)


def test_evaluate_and_predict_check_their_arguments(mnist_train_small) -> None:
    model = _model()
    x = mnist_train_small.images[:20]
    with pytest.raises(ValueError, match="x and y must have the same length, got 20 and 5"):
        evaluate(model, x, x[:5])
    with pytest.raises(TypeError, match="x must be a torch.Tensor, a numpy array or an aenb.data.Split"):
        evaluate(model, "images")
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        predict(model, x, batch_size=0)
    with pytest.raises(ValueError, match="unknown loss 'l2'"):
        evaluate(model, x, loss="l2")
