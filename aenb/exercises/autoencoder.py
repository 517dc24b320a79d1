"""Exercises of notebooks 01 (a basic autoencoder) and 02 (walking around a 3-d latent space)."""

from __future__ import annotations

import copy
import functools
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..models import MLPAutoencoder
from .common import NotYet, as_number, as_tensor, call, compare, exercise, images

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


def _pca_codes(x: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Codes of real images in a fixed k-d space: their first k principal components (1,000 training digits)."""
    mean, vh = _components(True)
    return ((x.reshape(len(x), -1).double() - mean) @ vh[:k].T).float()


@exercise("2.1", "my_interpolate")
def check_interpolate(answer: Any) -> str:
    """Exercise 2.1: ``my_interpolate(z_a, z_b, steps)``, the straight line between two codes."""
    z_a, z_b = _pca_codes(images("mnist", "test", 12)[[3, 11]])  # a 0 and a 6
    for steps in (10, 2):
        got = as_tensor(call(answer, z_a.clone(), z_b.clone(), steps), (steps, 3), what=f"your path (steps={steps})",
                        shape_hints={(3, steps): "one row per point of the path: shape (steps, d); transpose it.",
                                     (steps,): "keep all d coordinates of each point: shape (steps, d).",
                                     (steps - 1, 3): "the path has `steps` points including both ends."})
        t = torch.linspace(0, 1, steps, dtype=torch.float64)[:, None]
        a, b = z_a.double(), z_b.double()
        s = torch.arange(steps, dtype=torch.float64)[:, None] / steps
        compare(got, (1 - t) * a + t * b, problem=f"your path with steps={steps} is not the straight line from z_a "
                f"to z_b.", hint="z(t) = (1 - t) * z_a + t * z_b for t = torch.linspace(0, 1, steps)[:, None].",
                mistakes={"the last point must be z_b itself: t = torch.linspace(0, 1, steps) includes both ends "
                          "(t = arange(steps) / steps stops short).": (1 - s) * a + s * b,
                          "the path runs backwards: it must start at z_a (t = 0) and end at z_b (t = 1).":
                              t * a + (1 - t) * b})
    return "Your path starts at z_a, ends at z_b and takes equal steps: decode it to morph one digit into another."


@exercise("2.2", "my_distance_to_data")
def check_distance_to_data(answer: Any) -> str:
    """Exercise 2.2: ``my_distance_to_data(z, codes)``, the distance from each point to its nearest code."""
    codes = _pca_codes(images("mnist", "test", 1000))
    points = torch.cat([_pca_codes(images("mnist", "train", 25)), 3 * codes[:25]])  # near the data, and far out
    got = as_tensor(call(answer, points.clone(), codes.clone()), (50,), what="your distances", shape_hints={
        (50, 1000): "that is every distance; keep the smallest one per point: .min(dim=1).values.",
        (): "one distance per point, not one number for all of them.",
    })
    distances = torch.cdist(points.double(), codes.double())
    expected = distances.min(1).values
    compare(got, expected, problem="your distances differ from the distance to the nearest code.", rtol=1e-3,
            atol=1e-4, hint="torch.cdist(z, codes) gives all Euclidean distances (rows: points); keep the minimum of "
                            "each row.",
            mistakes={"that is the squared distance: take the square root (torch.cdist does).": expected.pow(2),
                      "that is the mean distance to all codes; the question is the distance to the nearest one.":
                          distances.mean(1),
                      "that is the distance to the farthest code: use .min, not .max.": distances.max(1).values})
    near, far = float(expected[:25].median()), float(expected[25:].median())
    return (f"Points near the data lie a median {near:.2f} from the nearest test code, points 3 times farther out "
            f"{far:.2f}: use it to tell whether a code you decode is anywhere near what the decoder was trained on.")


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


__all__ = ["check_distance_to_data", "check_find_code", "check_interpolate", "check_pca_reconstruct",
           "check_per_image_mse", "check_train_step"]
