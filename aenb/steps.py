"""How :func:`aenb.training.fit` runs the optimizer steps of one epoch, fast.

The models of this series are small: one training step is a few dozen tiny kernels. On a
GPU the time goes into launching them from Python, not into arithmetic; on a CPU it goes
into Python overhead and thread hand-offs. So:

* every running sum (losses, the index of the first non-finite batch) stays on the device
  and is updated in place -- nothing in the loop waits for the GPU;
* batches are gathered with ``index_select`` from the device-resident dataset;
* on CUDA, :class:`GraphedSteps` records one whole step (gather, forward, backward, Adam
  update, running sums) as a CUDA graph once, then replays it: one launch per step instead
  of dozens (see "CUDA Graphs" in the PyTorch docs, whole-network capture);
* optional bf16 autocast for convolutional models on the GPU.

:class:`EagerSteps` is the plain loop and the fallback everywhere else.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Mapping

import torch
from torch import nn

LossFn = Callable[[Any, torch.Tensor], "torch.Tensor | Mapping[str, torch.Tensor]"]


def as_loss_dict(loss: "torch.Tensor | Mapping[str, torch.Tensor]") -> Mapping[str, torch.Tensor]:
    """A loss function may return a tensor or a dict of tensors with a ``"loss"`` key."""
    if isinstance(loss, torch.Tensor):
        return {"loss": loss}
    if "loss" not in loss:
        raise ValueError(f"a loss function returning a dict must include 'loss', got keys {list(loss)}")
    return loss


class EagerSteps:
    """Runs optimizer steps one by one, accumulating per-epoch sums on the device.

    After :meth:`run_epoch`, ``sums[key]`` holds the sum over samples of each loss term and
    ``first_bad`` the index of the first batch whose loss was NaN or infinite (-1 if none);
    :meth:`read` fetches them all with one host synchronisation.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: LossFn,
        optimizer: torch.optim.Optimizer,
        x: torch.Tensor,
        y: torch.Tensor | None,
        *,
        batch_size: int,
        input_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        autocast_dtype: torch.dtype | None = None,
    ) -> None:
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.input_transform = input_transform
        self.autocast_dtype = autocast_dtype
        device = x.device
        self.sums: dict[str, torch.Tensor] = {}
        self.first_bad = torch.full((), -1, dtype=torch.long, device=device)
        self.batch_index = torch.zeros((), dtype=torch.long, device=device)

    def reset(self) -> None:
        """Zero the running sums in place (a captured graph keeps pointing at them)."""
        for value in self.sums.values():
            value.zero_()
        self.first_bad.fill_(-1)
        self.batch_index.zero_()

    def step(self, idx: torch.Tensor) -> None:
        """One optimizer step on the samples ``idx``; losses are added to ``sums``."""
        xb = self.x.index_select(0, idx)
        yb = xb if self.y is None else self.y.index_select(0, idx)
        inputs = self.input_transform(xb) if self.input_transform is not None else xb
        with torch.autocast(xb.device.type, dtype=self.autocast_dtype or torch.float32,
                            enabled=self.autocast_dtype is not None):
            terms = as_loss_dict(self.loss(self.model(inputs), yb))
        self.optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        self.optimizer.step()
        n = float(len(idx))
        for key, value in terms.items():
            if key not in self.sums:
                self.sums[key] = torch.zeros((), dtype=torch.float32, device=xb.device)
            self.sums[key].add_(value.detach().float() * n)
        bad = ~torch.isfinite(terms["loss"].detach())
        self.first_bad.copy_(torch.where(bad & (self.first_bad < 0), self.batch_index, self.first_bad))
        self.batch_index.add_(1)

    def run_epoch(self, order: torch.Tensor) -> None:
        """All steps of one epoch, visiting samples in ``order`` (a permutation on the device)."""
        for start in range(0, len(order), self.batch_size):
            self.step(order[start : start + self.batch_size])

    def read(self) -> tuple[dict[str, float], int]:
        """(sum of each loss term over the epoch, first non-finite batch or -1): one sync."""
        keys = list(self.sums)
        values = torch.stack([self.sums[k] for k in keys] + [self.first_bad.float()]).tolist()
        return dict(zip(keys, values[:-1])), int(values[-1])


class GraphedSteps(EagerSteps):
    """Like :class:`EagerSteps`, but full batches replay a captured CUDA graph.

    The first epoch runs ``warmup`` eager steps (they initialise Adam's state and let
    cuDNN pick its kernels), then captures one step into a graph; every later full batch
    copies its indices into a static buffer and replays the graph. A last, smaller batch
    runs eagerly. The optimizer must be created with ``capturable=True`` (``fit`` does).
    If capture fails (a loss that calls ``.item()``, say), training continues eagerly with
    a warning.
    """

    def __init__(self, *args: Any, warmup: int = 3, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.warmup = warmup
        self.graph: torch.cuda.CUDAGraph | None = None
        self.failed = False
        self.static_idx = torch.zeros(self.batch_size, dtype=torch.long, device=self.x.device)

    def _capture(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                self.step(self.static_idx)
        except Exception as exc:  # unsupported op inside the step: keep training eagerly
            self.failed = True
            torch.cuda.synchronize()
            warnings.warn(f"CUDA graph capture failed ({type(exc).__name__}: {exc}); training without graphs",
                          RuntimeWarning, stacklevel=3)
            return
        self.graph = graph

    def run_epoch(self, order: torch.Tensor) -> None:
        bs = self.batch_size
        n_full = len(order) // bs
        start = 0
        if self.graph is None and not self.failed:
            warm = min(self.warmup, n_full)
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for i in range(warm):
                    self.step(order[i * bs : (i + 1) * bs])
            torch.cuda.current_stream().wait_stream(side)
            start = warm * bs
            if n_full > warm:
                self._capture()
        for s in range(start, n_full * bs, bs):
            if self.graph is not None:
                self.static_idx.copy_(order[s : s + bs])
                self.graph.replay()
            else:
                self.step(order[s : s + bs])
        if n_full * bs < len(order):
            self.step(order[n_full * bs :])
