"""Models that later notebooks reuse, so every notebook runs on its own.

Notebook 01 trains the 784-128-64-12-3 autoencoder with :func:`train_basic_autoencoder` and
saves it; notebooks 02, 03 and 06 build on it. :func:`basic_autoencoder` loads that checkpoint
when it exists and otherwise trains the model with the same function (in the current mode)
and saves it, so a reader may open any notebook first, in a fresh kernel, on a fresh clone.

Notebook 05 compares its denoiser with the original's, whose own budget (10 epochs over MNIST)
takes about 27 minutes on a 2-core CPU, more than a whole notebook may. Its weights are
therefore **published** in ``weights/`` (committed, weights and plain metadata only, loaded with
``weights_only=True``): :func:`train_original_denoiser` is the recipe that made them, run by
``python benchmarks/time_to_quality.py denoiser --retrain-original``, and :func:`original_denoiser`
loads them, after checking the file's SHA-256 against ``weights/SHA256SUMS``: a damaged copy
(a bad download, a disk error, a merge tool that rewrote it) would otherwise load and score
nonsense without a word. ``tests/test_pretrained.py`` re-evaluates every published file on the CPU.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from .data import Split, load_dataset
from .device import get_device, seed_everything
from .metrics import reconstruction_mse
from .models import MLPAutoencoder, OriginalDenoiser
from .noise import noisy_inputs
from .paths import ROOT, atomic_write, output_dir, shown
from .training import History, bce_loss, fit

if TYPE_CHECKING:
    from .callbacks import Callback

BASIC_AE_SIZES = (784, 128, 64, 12, 3)
BASIC_AE_CHECKPOINT = "01_mlp_autoencoder_z3.pt"

#: Published weights: committed with the repository, re-evaluated by the tests.
PUBLISHED = ROOT / "weights"
ORIGINAL_DENOISER_WEIGHTS = PUBLISHED / "05_original_conv_denoiser.pt"
#: The published files' SHA-256 digests, in ``sha256sum`` format, in the folder beside them. A file
#: rather than a constant here: the retrain command rewrites it without editing Python source, one
#: list covers every published file (the tests check none is missing), and anyone can check the files
#: without Python: ``cd weights && sha256sum -c SHA256SUMS``.
DIGESTS = "SHA256SUMS"
#: The command that retrains the published original denoiser (and records its new digest).
RETRAIN_ORIGINAL = "python benchmarks/time_to_quality.py denoiser --retrain-original"
_DIGEST_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")
#: The original ConvDAE.ipynb's recipe: 10 epochs, batches of 128, Adam at 0.001, noise factor 0.5.
ORIGINAL_DENOISER_RECIPE = {"epochs": 10, "batch_size": 128, "lr": 1e-3, "noise": 0.5, "seed": 0}


def basic_autoencoder_recipe(mode: str) -> dict[str, Any]:
    """Notebook 01's training recipe.

    Fast mode trains on 5,000 images with small batches: with batches of 100, the 100 steps
    this leaves are too few and the model collapses to drawing the mean digit for every code.
    """
    fast = mode == "fast"
    return {
        "train_limit": 5_000 if fast else None,
        "epochs": 3 if fast else 30,
        "batch_size": 25 if fast else 100,
        "lr": 1e-3,
        "seed": 0,
    }


def train_basic_autoencoder(mode: str, device: torch.device | str | None = None, *, train: Split | None = None,
                            validation_data: Any = None, callbacks: list[Callback] | tuple[()] = (),
                            verbose: bool = True) -> tuple[MLPAutoencoder, History]:
    """Notebook 01's model trained with notebook 01's recipe: ``(model, history)``, the model in eval mode.

    It seeds the random generators with the recipe's seed first, so the notebook and
    :func:`basic_autoencoder` get the same model. ``train`` defaults to the recipe's slice of
    MNIST's training set (pass it when you have loaded it already: it must be that slice);
    ``validation_data`` and ``callbacks`` go to :func:`aenb.training.fit` and do not change the weights.
    """
    recipe = basic_autoencoder_recipe(mode)
    train = train if train is not None else load_dataset("mnist", "train", limit=recipe["train_limit"])
    generator = seed_everything(recipe["seed"])
    model = MLPAutoencoder(sizes=BASIC_AE_SIZES, activation="tanh")
    history = fit(model, train, epochs=recipe["epochs"], batch_size=recipe["batch_size"], lr=recipe["lr"],
                  validation_data=validation_data, callbacks=callbacks, generator=generator, device=device,
                  verbose=verbose)
    return model, history


def basic_autoencoder(mode: str, device: torch.device | str | None = None,
                      verbose: bool = True) -> tuple[MLPAutoencoder, dict[str, Any]]:
    """Notebook 01's trained autoencoder, in eval mode on ``device``.

    Returns ``(model, info)``; ``info`` holds ``source`` (``"checkpoint"`` or ``"trained"``),
    the checkpoint's metadata (``test_mse``, ``mode``, ``epochs``) and a one-line ``message``
    saying which happened, for the notebook to print.
    """
    device = torch.device(device) if device is not None else get_device()
    path = output_dir("checkpoints", mode) / BASIC_AE_CHECKPOINT
    if path.exists():
        model, meta = load_checkpoint(path, MLPAutoencoder, sizes=list(BASIC_AE_SIZES))
        message = (f"loaded notebook 01's autoencoder from {shown(path)} ({meta['mode']} mode, "
                   f"{meta['epochs']} epochs, test MSE {meta['test_mse']:.4f})")
        return model.to(device).eval(), {**meta, "source": "checkpoint", "path": shown(path), "message": message}
    model, history = train_basic_autoencoder(mode, device, verbose=verbose)
    meta = {"test_mse": reconstruction_mse(model, load_dataset("mnist", "test").images), "mode": mode,
            "epochs": len(history)}
    save_checkpoint(model, path, metadata=meta)
    message = (f"no checkpoint from notebook 01 at {shown(path)}: trained its model with notebook 01's "
               f"{mode}-mode recipe ({len(history)} epochs, {history.seconds:.0f} s, test MSE "
               f"{meta['test_mse']:.4f}) and saved it there")
    return model.eval(), {**meta, "source": "trained", "path": shown(path), "message": message}


def train_original_denoiser(images: torch.Tensor, *, epochs: int = ORIGINAL_DENOISER_RECIPE["epochs"],
                            device: torch.device | str | None = None, callbacks: list[Callback] | tuple[()] = (),
                            verbose: bool = True) -> tuple[OriginalDenoiser, History]:
    """Notebook 05's port of the original's recipe: ``(model, history)``, the model in eval mode.

    :class:`~aenb.models.OriginalDenoiser` from seed 0, trained on noisy -> clean pairs (fresh
    ``clip(x + 0.5 N(0, 1), 0, 1)`` noise for every batch) with sigmoid cross-entropy, Adam at
    0.001 and batches of 128, as ``ConvDAE.ipynb`` does. The published weights are this function
    with the default ``epochs`` on notebook 05's 59,000 training images.
    """
    recipe = ORIGINAL_DENOISER_RECIPE
    generator = seed_everything(recipe["seed"])
    model = OriginalDenoiser()
    history = fit(model, images, epochs=epochs, batch_size=recipe["batch_size"], loss=bce_loss, lr=recipe["lr"],
                  input_transform=noisy_inputs(recipe["noise"]), callbacks=callbacks, generator=generator,
                  device=device, verbose=verbose)
    return model.eval(), history


def original_denoiser(path: Path | str = ORIGINAL_DENOISER_WEIGHTS) -> tuple[OriginalDenoiser, dict[str, Any]]:
    """The published original denoiser, ``(model, metadata)``, in eval mode on the CPU.

    ``metadata`` says how it was made and measured: ``epochs``, ``test_psnr_db`` (mean PSNR on
    MNIST's 10,000 test digits with notebook 05's test noise), and per epoch the validation
    PSNR, the training images seen and the training seconds of that run (``per_epoch``).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no published weights at {shown(path)}: restore the file from git "
                                f"(git checkout -- {shown(path)}) or retrain them with {RETRAIN_ORIGINAL}")
    verify_published(path)
    return load_checkpoint(path, OriginalDenoiser)


def sha256(path: Path) -> str:
    """The SHA-256 of the file at ``path``, as ``sha256sum`` prints it."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def recorded_digests(folder: Path = PUBLISHED) -> dict[str, str]:
    """``{file name: SHA-256}`` from ``folder/SHA256SUMS`` ({} when there is none)."""
    sums = folder / DIGESTS
    if not sums.exists():
        return {}
    digests = {}
    for number, line in enumerate(sums.read_text().splitlines(), start=1):
        match = _DIGEST_LINE.fullmatch(line)
        if not match:
            raise ValueError(f"line {number} of {shown(sums)} should be '<64 hex digits>  <file name>' as "
                             f"sha256sum writes, found {line!r}")
        digests[match[2]] = match[1]
    return digests


def verify_published(path: Path) -> None:
    """Refuse a published file whose SHA-256 is not the one recorded in ``SHA256SUMS`` beside it."""
    sums = path.parent / DIGESTS
    expected, found = recorded_digests(path.parent).get(path.name), sha256(path)
    if expected == found:
        return
    restore = (f"restore it with `git checkout -- {shown(path)} {shown(sums)}` or retrain it (which records the new "
               f"digest) with `{RETRAIN_ORIGINAL}`")
    if expected is None:
        raise CheckpointError(f"{shown(sums)} records no SHA-256 for {path.name} (its SHA-256 is {found}), so it "
                              f"cannot be checked as published weights: {restore}")
    raise CheckpointError(f"{shown(path)} is not the published file: its SHA-256 should be {expected} (as recorded "
                          f"in {shown(sums)}), found {found}; the file is damaged or was replaced: {restore}")


def record_digest(path: Path) -> Path:
    """Record ``path``'s SHA-256 in ``SHA256SUMS`` beside it (after publishing new weights); returns that file."""
    digests = {**recorded_digests(path.parent), path.name: sha256(path)}
    text = "".join(f"{digest}  {name}\n" for name, digest in sorted(digests.items()))
    return atomic_write(path.parent / DIGESTS, lambda tmp: tmp.write_text(text))
