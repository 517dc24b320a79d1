"""Exercises of notebooks 01 (a basic autoencoder) and 02 (walking around a 3-d latent space)."""

from __future__ import annotations

import copy
import functools
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..models import MLPAutoencoder
from .common import NotYet, as_number, as_tensor, call, compare, describe, exercise, images, labels

# ---------------------------------------------------------------- notebook 01


@exercise("1.1", "my_per_image_mse")
def check_per_image_mse(answer: Any) -> str:
    """Exercise 1.1: ``my_per_image_mse(images, recon)`` is the mean squared error over the pixels of each image."""
    x = images("mnist", "test", 500)
    recon = F.avg_pool2d(x, 3, stride=1, padding=1)  # a blurred copy stands in for reconstructions
    got = as_tensor(call(answer, x.clone(), recon.clone()), (500,), what="your result", shape_hints={
        (): "one number per image, not one for the whole batch: average over the pixel dimensions only, "
            "for example (recon - images).pow(2).flatten(1).mean(1).",
        (500, 1, 28, 28): "you kept every pixel: average over dimensions 1, 2 and 3 as well.",
        (1, 28, 28): "you averaged over the images (dim 0); average over the pixels of each image instead.",
        (500, 1): "one value per image is right, but return a flat (N,) tensor: average over dims (1, 2, 3).",
    })
    diff = (recon - x).double()
    expected = diff.pow(2).flatten(1).mean(1)
    compare(got, expected, problem="your errors differ from the mean squared error of each image.",
            hint="square the differences, then average them over the 784 pixels of each image.",
            mistakes={
                "you summed over the 784 pixels: the notebook's MSE is the mean over pixels, 784 times smaller.":
                    diff.pow(2).flatten(1).sum(1),
                "that is the mean absolute error: square the differences instead of taking abs().":
                    diff.abs().flatten(1).mean(1),
                "that is the root of the MSE: leave out the square root.": expected.sqrt(),
            })
    return (f"Your errors match the mean squared error of each of 500 MNIST test digits against a blurred copy "
            f"(mean over the images {float(expected.mean()):.4f}), the number aenb.metrics.per_image_mse gives.")


def _reference_step(model: nn.Module, batch: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    optimizer.zero_grad()
    loss = F.mse_loss(model(batch), batch)
    loss.backward()
    optimizer.step()
    return loss.item()


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.allclose(p, q, rtol=1e-4, atol=1e-6) for p, q in zip(a.parameters(), b.parameters()))


@exercise("1.2", "my_train_step")
def check_train_step(answer: Any) -> str:
    """Exercise 1.2: ``my_train_step(model, images, optimizer)`` does one optimisation step and returns the loss."""
    batches = images("mnist", "train", 128).split(64)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        reference = MLPAutoencoder((784, 32, 3), activation="tanh")
    theirs, start = copy.deepcopy(reference), copy.deepcopy(reference)
    # Plain SGD: unlike Adam, its step grows with the loss, so a wrong reduction shows in the weights too.
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.5)
    their_opt = torch.optim.SGD(theirs.parameters(), lr=0.5)
    for step, batch in enumerate(batches, start=1):
        expected = _reference_step(reference, batch, ref_opt)
        got = as_number(call(answer, theirs, batch.clone(), their_opt), what="the loss your function returned")
        if abs(got - expected) > 1e-4 * max(1.0, abs(expected)):
            n = batch.numel()
            hint = ("return the mean squared error over every pixel of the batch, F.mse_loss(model(images), images), "
                    "computed before the step.")
            if abs(got - expected * n) <= 1e-3 * expected * n:
                hint = "you summed the squared errors: the notebook's loss is their mean (reduction='mean')."
            elif abs(got - expected * 784) <= 1e-3 * expected * 784:
                hint = "you summed over the pixels of each image: the notebook's loss averages over pixels too."
            raise NotYet(f"the loss of step {step} is not the batch's mean squared error.",
                         expected=f"{expected:.6f}", got=f"{got:.6f}", hint=hint)
        if step == 1 and _same_weights(theirs, start):
            raise NotYet("after your step the weights are unchanged.", hint="call optimizer.step() after "
                         "loss.backward(): backward() only computes the gradients, step() applies them.")
        if not _same_weights(theirs, reference):
            hint = ("use the optimizer you are given, and the loss of this batch: "
                    "zero_grad(), forward, loss, backward(), step().")
            if step == 2:
                hint = ("the first step was right, the second was not: the gradients of step 1 were added to those "
                        "of step 2. Call optimizer.zero_grad() before loss.backward() in every step.")
            raise NotYet(f"after step {step} the weights differ from those of a correct step.", hint=hint)
    return ("Two steps on batches of 64 MNIST digits give the losses and the weights of a correct step "
            "(zero_grad, forward, loss, backward, step): this is the loop inside fit.")


@functools.lru_cache(maxsize=2)
def _components(centre: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and principal directions (rows) of the first 1,000 MNIST training digits, float64.

    ``centre=False`` is the typical mistake: the SVD of the raw images, whose first direction is the mean image.
    """
    train = images("mnist", "train", 1000).reshape(1000, -1).double()
    mean = train.mean(0) if centre else torch.zeros(train.shape[1], dtype=torch.float64)
    return mean, torch.linalg.svd(train - mean, full_matrices=False).Vh


def _pca_reconstruct(x: torch.Tensor, k: int, *, centre: bool = True, add_mean: bool = True,
                     own_mean: bool = False) -> torch.Tensor:
    """The PCA reconstruction of ``x`` in float64; the keyword arguments make the typical mistakes."""
    mean, vh = _components(centre)
    flat = x.reshape(len(x), -1).double()
    if own_mean:  # centred with the mean of the images being reconstructed, not the training mean
        mean = flat.mean(0)
    v = vh[:k]
    return ((flat - mean) @ v.T @ v + (mean if add_mean else 0)).reshape(x.shape)


@exercise("1.3", "my_pca_reconstruct")
def check_pca_reconstruct(answer: Any) -> str:
    """Exercise 1.3: ``my_pca_reconstruct(train_images, images, k)``, PCA by hand (an SVD), the baseline of 01."""
    train, x = images("mnist", "train", 1000), images("mnist", "test", 200)
    errors = {}
    for k in (3, 10):
        got = as_tensor(call(answer, train.clone(), x.clone(), k), tuple(x.shape), what=f"your result for k={k}",
                        shape_hints={(200, 784): "reshape the result to the images' shape, (N, 1, 28, 28)."})
        expected = _pca_reconstruct(x, k)
        compare(got, expected, problem=f"your reconstruction with k={k} differs from PCA's.", atol=2e-3, rtol=1e-3,
                hint="flatten to (N, 784), subtract the mean training image, take the SVD of the centred training "
                     "images, project onto the first k rows of Vh (the components) and back, add the mean again.",
                mistakes={
                    "PCA works on centred data: subtract the mean training image before the SVD and before "
                    "projecting, and add it back afterwards.": _pca_reconstruct(x, k, centre=False),
                    "the mean must come from the training images (PCA.fit), not from the images you reconstruct.":
                        _pca_reconstruct(x, k, own_mean=True),
                    "add the mean training image back after projecting.": _pca_reconstruct(x, k, add_mean=False),
                })
        errors[k] = float((expected - x.double()).pow(2).mean())
    return (f"Your PCA reconstructs 200 MNIST test digits like scikit-learn's: test MSE {errors[3]:.4f} with "
            f"3 components and {errors[10]:.4f} with 10, the linear baseline the autoencoder has to beat.")


# ---------------------------------------------------------------- notebook 02

_K_CANDIDATES = (1, 3, 5, 9, 15, 25)


@functools.lru_cache(maxsize=1)
def _reader_splits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The first 3,000 MNIST training digits (to fit a pixel reader on) and the next 1,000 (to choose with)."""
    x, y = images("mnist", "train", 4000).flatten(1), labels("mnist", "train", 4000)
    return x[:3000], y[:3000], x[3000:], y[3000:]


def _knn_accuracies(train_x: torch.Tensor, train_y: torch.Tensor, x: torch.Tensor, y: torch.Tensor) \
        -> dict[int, float]:
    """Accuracy of a k-NN pixel reader (majority of the k nearest, ties to the smaller label) for every candidate k."""
    distances = torch.cdist(x.double(), train_x.double())
    order = distances.topk(max(_K_CANDIDATES), largest=False).indices  # nearest first
    neighbours = train_y[order]
    scores = {}
    for k in _K_CANDIDATES:
        votes = F.one_hot(neighbours[:, :k], 10).sum(1)
        scores[k] = float((votes.argmax(1) == y).double().mean())  # argmax: the first (smaller) label on a tie
    return scores


@exercise("2.1", "my_choose_k")
def check_choose_k(answer: Any) -> str:
    """Exercise 2.1: ``my_choose_k(train_images, train_labels, val_images, val_labels, candidates)`` picks the pixel
    reader's k on the validation split."""
    train_x, train_y, val_x, val_y = _reader_splits()
    got = as_number(call(answer, train_x.view(-1, 1, 28, 28).clone(), train_y.clone(),
                         val_x.view(-1, 1, 28, 28).clone(), val_y.clone(), _K_CANDIDATES), what="your k")
    on_val = _knn_accuracies(train_x, train_y, val_x, val_y)
    best = max(_K_CANDIDATES, key=lambda k: (on_val[k], -k))  # the highest accuracy, the smaller k on a tie
    table = ", ".join(f"k={k}: {on_val[k]:.1%}" for k in _K_CANDIDATES)
    if got != best:
        if got not in _K_CANDIDATES:
            raise NotYet(f"{got:g} is not one of the candidates {_K_CANDIDATES}.", expected=f"one of {_K_CANDIDATES}",
                         got=f"{got:g}", hint="return the candidate k itself, not its accuracy or its position in "
                                              "the list.")
        on_train = _knn_accuracies(train_x, train_y, train_x, train_y)  # each image is its own nearest
        hint = ("Fit a reader for each candidate on the training split and compare the candidates by their accuracy "
                "on the validation split, which none of the readers was fit on; on a tie keep the smaller k.")
        if got == max(_K_CANDIDATES, key=lambda k: (on_train[k], -k)):
            hint = (f"k={got:g} is the k that reads its own training images best ({on_train[int(got)]:.1%}): each of "
                    "them is its own nearest neighbour, so that score says nothing about new images. " + hint)
        raise NotYet(f"k={got:g} is not the candidate with the best validation accuracy.",
                     got=f"k={got:g}, validation accuracy {on_val[int(got)]:.1%}", hint=hint)
    small = [on_val[k] for k in _K_CANDIDATES if k <= 5]
    spread, noise = max(small) - min(small), (on_val[best] * (1 - on_val[best]) / len(val_y)) ** 0.5
    verdict = (f"Among k <= 5 the accuracies lie within {spread:.1%} of each other, less than the standard error of "
               f"one accuracy on {len(val_y):,} images ({noise:.1%}), so the notebook's k=5 is as good a choice"
               if spread < noise else f"The notebook's k=5 scores {on_val[5]:.1%}")
    own = _knn_accuracies(train_x, train_y, train_x, train_y)[1]
    return (f"k={best} reads the {len(val_y):,} validation digits best ({table}). {verdict}; on its own training "
            f"images k=1 would have scored {own:.1%}.")


@functools.lru_cache(maxsize=1)
def _budget_runs() -> tuple[tuple[tuple[float, ...], int], ...]:
    """Two 784-64-3 autoencoders on real MNIST digits, seeded: (validation MSE after each epoch, images per epoch).

    Run A makes 9 passes over 1,000 training digits, run B 2 passes over 3,000 others; both are scored after every
    epoch on the same 1,000 held-out digits.
    """
    x = images("mnist", "train", 5000)
    val = x[4000:]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # layers this small gain nothing from threads, and on a busy CPU they lose a lot
    try:
        return _train_budget_runs(x, val)
    finally:
        torch.set_num_threads(threads)


def _train_budget_runs(x: torch.Tensor, val: torch.Tensor) -> tuple[tuple[tuple[float, ...], int], ...]:
    runs = []
    for first, n, epochs in ((0, 1000, 9), (1000, 3000, 2)):
        train = x[first:first + n]
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model = MLPAutoencoder((784, 64, 3))
            optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
            curve = []
            for _ in range(epochs):
                for idx in torch.randperm(n).split(50):
                    optimizer.zero_grad()
                    F.mse_loss(model(train[idx]), train[idx]).backward()
                    optimizer.step()
                with torch.no_grad():
                    curve.append(float(F.mse_loss(model(val), val)))
        runs.append((tuple(curve), n))
    return tuple(runs)


def _best_within(curve: tuple[float, ...], per_epoch: int, budget: int) -> float:
    """The lowest validation loss among the epochs finished within ``budget`` training images."""
    return min(curve[:budget // per_epoch])


@exercise("2.2", "my_equal_budget")
def check_equal_budget(answer: Any) -> str:
    """Exercise 2.2: ``my_equal_budget(val_a, images_a, val_b, images_b)`` compares two training runs at the budget
    both had, counted in training images seen."""
    (curve_a, n_a), (curve_b, n_b) = _budget_runs()
    result = call(answer, list(curve_a), n_a, list(curve_b), n_b)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise NotYet("your function should return two numbers, one per run.", expected="(loss_a, loss_b)",
                     got=describe(result), hint="return a tuple: return loss_a, loss_b.")
    got = (as_number(result[0], what="your loss for run A"), as_number(result[1], what="your loss for run B"))
    budget = min(len(curve_a) * n_a, len(curve_b) * n_b)
    expected = (_best_within(curve_a, n_a, budget), _best_within(curve_b, n_b, budget))
    # The loss of the last epoch within the budget is as good an answer: the point is where the budget ends.
    also_right = (curve_a[budget // n_a - 1], curve_b[budget // n_b - 1])
    if all(abs(g - e) <= 1e-6 for g, e in zip(got, expected)) or \
            all(abs(g - e) <= 1e-6 for g, e in zip(got, also_right)):
        a, b = expected
        return (f"Both runs had {budget:,} training images: {budget // n_a} passes over {n_a:,} digits reach a "
                f"validation MSE of {a:.4f}, {budget // n_b} passes over {n_b:,} digits {b:.4f}. Run A's last number "
                f"({min(curve_a):.4f}) came from {len(curve_a) * n_a - budget:,} more images and would have "
                f"credited it with a budget run B never had.")
    shown = f"({got[0]:.4f}, {got[1]:.4f})"
    hint = ("Count the budget of each run in training images seen (epochs x images per epoch), take the smaller of "
            "the two totals, and compare each run by the epochs it had finished within that budget.")
    if all(abs(g - min(c)) <= 1e-6 for g, c in zip(got, (curve_a, curve_b))):
        hint = (f"those are the best losses of the whole runs, but run A saw {len(curve_a) * n_a:,} training images "
                f"and run B {len(curve_b) * n_b:,}: the longer run wins partly because it ran longer. " + hint)
    elif all(abs(g - min(c[:min(len(curve_a), len(curve_b))])) <= 1e-6 for g, c in zip(got, (curve_a, curve_b))):
        hint = (f"equal epochs is not an equal budget here: an epoch of run A is {n_a:,} images, one of run B "
                f"{n_b:,}. " + hint)
    raise NotYet("your numbers are not the two runs' validation losses at the budget both had.",
                 expected=f"({expected[0]:.4f}, {expected[1]:.4f})", got=shown, hint=hint)


@exercise("2.3", "my_find_code")
def check_find_code(answer: Any, model: nn.Module, test_images: torch.Tensor) -> str:
    """Exercise 2.3: ``my_find_code(decode, targets, latent_dim)`` finds codes by gradient descent on the latent.

    Args:
        answer: the reader's function.
        model: a trained autoencoder with ``encode``, ``decode`` and ``latent_dim`` (notebook 02's ``model``).
        test_images: test images; the first 8 are the targets.
    """
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    targets = test_images[:8].to(device, dtype)
    was_training = model.training
    model.eval()
    saved = copy.deepcopy(model.state_dict())
    grads = [p.grad for p in model.parameters()]
    try:
        result = call(answer, model.decode, targets.clone(), int(model.latent_dim))
        changed = any(not torch.equal(a, b) for a, b in zip(saved.values(), model.state_dict().values()))
    finally:
        model.load_state_dict(saved)  # the reader's model stays as it was, whatever the function did
        for p, g in zip(model.parameters(), grads):
            p.grad = g
        model.train(was_training)
    if changed:
        raise NotYet("your function changed the decoder's weights (they have been put back).",
                     hint="optimise the code only: z = torch.zeros(N, latent_dim, requires_grad=True) and "
                          "torch.optim.Adam([z], lr=0.05); do not pass model.parameters() to the optimiser.")
    z = as_tensor(result, (8, int(model.latent_dim)), what="your codes", shape_hints={
        (int(model.latent_dim),): "one code per target image: shape (N, latent_dim)."})
    model.eval()
    with torch.no_grad():
        found = (model.decode(z.to(device, dtype)) - targets).pow(2).flatten(1).mean(1)
        encoded = (model.decode(model.encode(targets)) - targets).pow(2).flatten(1).mean(1)
        origin = (model.decode(torch.zeros_like(z, device=device, dtype=dtype)) - targets).pow(2).flatten(1).mean(1)
    model.train(was_training)
    mse, mse_encoder, mse_origin = float(found.mean()), float(encoded.mean()), float(origin.mean())
    numbers = (f"decoded MSE {mse:.4f} with your codes, {mse_encoder:.4f} with the encoder's, {mse_origin:.4f} "
               f"with z = 0 (the first 8 test images)")
    if mse > mse_origin:
        raise NotYet("your codes decode to images further from the targets than z = 0 does.", got=numbers,
                     hint="the error went up: step against the gradient (z -= lr * z.grad, or an optimiser that "
                          "minimises the loss), and compute the loss as the MSE between decode(z) and the targets.")
    if mse > 1.1 * mse_encoder + 1e-3:
        raise NotYet("your codes decode to images further from the targets than the encoder's codes do.",
                     got=numbers, hint="the encoder's guess is not the best code; gradient descent should match it. "
                     "Take more steps or a larger learning rate (Adam, lr 0.05, 500 steps), and zero the gradient "
                     "of z in every step.")
    return (f"{numbers[0].upper()}{numbers[1:]}: gradient descent on the code finds what the encoder "
            f"finds in one pass (an encoder is a fast, learned guess of this search).")


__all__ = ["check_choose_k", "check_equal_budget", "check_find_code", "check_pca_reconstruct",
           "check_per_image_mse", "check_train_step"]
