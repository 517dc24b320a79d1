"""The CUDA fast path of fit (graphs, fused Adam, bf16). Skipped on machines without CUDA.

CI has no GPU; these run on a GPU machine with `pytest -o addopts="" tests/test_gpu.py`.
"""

from __future__ import annotations

import pytest
import torch
from torch.optim.lr_scheduler import LambdaLR

from aenb.callbacks import Callback
from aenb.device import seed_everything
from aenb.models import MLPAutoencoder
from aenb.training import fit, mse_loss

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _train(x, **kwargs):
    gen = seed_everything(0)
    model = MLPAutoencoder((784, 64, 8), "tanh")
    history = fit(model, x, epochs=3, batch_size=64, generator=gen, device="cuda", verbose=False, **kwargs)
    return model, history


def test_graphs_match_the_eager_loop(mnist_train_small) -> None:
    x = mnist_train_small.images[:1000].cuda()  # 1000 = 15 full batches of 64 + one of 40
    _, eager = _train(x, speedups=False)
    model, graphed = _train(x, speedups=True)
    assert len(graphed) == 3
    assert graphed["loss"] == pytest.approx(eager["loss"], rel=1e-3)
    assert graphed["loss"][-1] < graphed["loss"][0]
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_learning_rate_changes_reach_the_graph(mnist_train_small) -> None:
    x = mnist_train_small.images[:1000].cuda()
    model, history = _train(x, scheduler=lambda opt: LambdaLR(opt, lambda epoch: 1.0 if epoch == 0 else 0.0))
    assert history["lr"] == pytest.approx([1e-3, 0.0, 0.0])
    before = [p.detach().clone() for p in model.parameters()]
    # With lr 0, a further epoch must not move the weights.
    fit(model, x, epochs=1, batch_size=64, device="cuda", verbose=False,
        scheduler=lambda opt: LambdaLR(opt, lambda e: 0.0))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_non_finite_batch_is_located_under_graphs(mnist_train_small) -> None:
    x = mnist_train_small.images[:640].cuda()
    poison = torch.ones((), device="cuda")  # the graph reads this tensor at every replay

    class PoisonEpoch1(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                poison.fill_(float("nan"))

    with pytest.raises(FloatingPointError, match=r"batch 0 of epoch 1"):
        fit(MLPAutoencoder((784, 16, 2)), x, epochs=3, batch_size=64, device="cuda", verbose=False,
            loss=lambda out, target: mse_loss(out, target) * poison, callbacks=[PoisonEpoch1()],
            generator=seed_everything(0))


def test_capture_failure_falls_back_with_a_warning(mnist_train_small) -> None:
    def syncing_loss(output, target):
        loss = mse_loss(output, target)
        if loss.item() < 0:  # a host sync: not allowed while capturing
            raise AssertionError
        return loss

    x = mnist_train_small.images[:640].cuda()
    with pytest.warns(RuntimeWarning, match="CUDA graph capture failed"):
        history = fit(MLPAutoencoder((784, 16, 2)), x, epochs=2, batch_size=64, loss=syncing_loss,
                      device="cuda", verbose=False)
    assert len(history) == 2 and history["loss"][1] < history["loss"][0]


def test_a_non_capturable_optimizer_is_announced(mnist_train_small, capsys) -> None:
    model = MLPAutoencoder((784, 16, 2)).cuda()
    fit(model, mnist_train_small.images[:640], epochs=1, batch_size=64, device="cuda", verbose=False,
        optimizer=torch.optim.Adam(model.parameters()))
    assert "CUDA graphs off: the optimizer is not capturable" in capsys.readouterr().out
