"""fit's CUDA fast path (``speedups=True``: fused Adam, bf16 autocast for conv models, channels-last,
cudnn.benchmark), against the plain loop. Skipped on machines without CUDA.

CI has no GPU; these run on a GPU machine with `pytest -o addopts="" tests/test_gpu.py`. (Earlier
revisions replayed steps as CUDA graphs; that path and its tests were removed.)
"""

from __future__ import annotations

import pytest
import torch
from torch.optim.lr_scheduler import LambdaLR

from aenb.callbacks import Callback
from aenb.device import seed_everything
from aenb.models import ConvAutoencoder, MLPAutoencoder
from aenb.training import fit, mse_loss

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _train(x, **kwargs):
    gen = seed_everything(0)
    model = MLPAutoencoder((784, 64, 8), "tanh")
    history = fit(model, x, epochs=3, batch_size=64, generator=gen, device="cuda", verbose=False, **kwargs)
    return model, history


def test_fast_path_matches_the_plain_loop(mnist_train_small) -> None:
    x = mnist_train_small.images[:1000].cuda()  # 1000 = 15 full batches of 64 + one of 40
    _, plain = _train(x, speedups=False)
    model, fast = _train(x, speedups=True)
    assert len(fast) == 3
    assert fast["loss"] == pytest.approx(plain["loss"], rel=1e-3)  # fused Adam rounds differently
    assert fast["loss"][-1] < fast["loss"][0]
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_conv_models_train_in_bf16_and_come_back_as_they_were(mnist_train_small) -> None:
    """bf16 autocast and channels-last live inside fit: the model returns float32, contiguous, and
    cudnn.benchmark has its old value."""
    benchmark = torch.backends.cudnn.benchmark
    model = ConvAutoencoder(latent_dim=4)
    history = fit(model, mnist_train_small.images[:640], epochs=2, batch_size=64, device="cuda", verbose=False,
                  generator=seed_everything(0))
    assert history["loss"][1] < history["loss"][0]
    assert all(p.dtype == torch.float32 and p.is_contiguous() for p in model.parameters())
    assert torch.backends.cudnn.benchmark == benchmark


def test_learning_rate_changes_reach_the_fused_optimizer(mnist_train_small) -> None:
    x = mnist_train_small.images[:1000].cuda()
    model, history = _train(x, scheduler=lambda opt: LambdaLR(opt, lambda epoch: 1.0 if epoch == 0 else 0.0))
    assert history["lr"] == pytest.approx([1e-3, 0.0, 0.0])
    before = [p.detach().clone() for p in model.parameters()]
    # With lr 0, a further epoch must not move the weights.
    fit(model, x, epochs=1, batch_size=64, device="cuda", verbose=False,
        scheduler=lambda opt: LambdaLR(opt, lambda e: 0.0))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_non_finite_batch_is_located_on_the_gpu(mnist_train_small) -> None:
    x = mnist_train_small.images[:640].cuda()
    poison = torch.ones((), device="cuda")  # read by the loss at every step, on the device

    class PoisonEpoch1(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                poison.fill_(float("nan"))

    with pytest.raises(FloatingPointError, match=r"batch 0 of epoch 1"):
        fit(MLPAutoencoder((784, 16, 2)), x, epochs=3, batch_size=64, device="cuda", verbose=False,
            loss=lambda out, target: mse_loss(out, target) * poison, callbacks=[PoisonEpoch1()],
            generator=seed_everything(0))
