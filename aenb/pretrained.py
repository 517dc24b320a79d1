"""Models that later notebooks reuse, so every notebook runs on its own.

Notebook 01 trains the 784-128-64-12-3 autoencoder with :func:`train_basic_autoencoder` and
saves it; notebooks 02, 03 and 06 build on it. :func:`basic_autoencoder` loads that checkpoint
when it exists and otherwise trains the model with the same function (in the current mode)
and saves it, so a reader may open any notebook first, in a fresh kernel, on a fresh clone.

Notebooks 04 and 05 compare their models with the originals', whose own recipes take longer on a
2-core CPU than a whole notebook may (notebook 05's: 10 epochs, about 27 minutes; notebook 04's: up
to 100 epochs with early stopping, about half an hour). Their weights are therefore **published**
in ``weights/`` (committed, weights and plain metadata only, loaded with ``weights_only=True``):
:func:`train_original_denoiser` and :func:`train_original_conv` are the recipes that made them, run
by ``python benchmarks/time_to_quality.py denoiser --retrain-original`` and ``... conv
--retrain-original``; :func:`original_denoiser` and :func:`original_conv` load them, after
checking the file's SHA-256 against ``weights/SHA256SUMS``: a damaged copy
(a bad download, a disk error, a merge tool that rewrote it) would otherwise load and score
nonsense without a word. ``tests/test_pretrained.py`` re-evaluates every published file on the CPU.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .callbacks import EarlyStopping
from .checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from .data import Split, load_dataset
from .device import get_device, seed_everything
from .metrics import reconstruction_mse
from .models import ConvAutoencoder, MLPAutoencoder, OriginalDenoiser
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
#: Notebook 04's original, Cheong's ``Chapter02/ch2_autoencoder.ipynb``: one published run per code size.
ORIGINAL_CONV_WEIGHTS = {10: PUBLISHED / "04_original_conv_z10.pt", 2: PUBLISHED / "04_original_conv_z2.pt"}
RETRAIN_ORIGINAL_CONV = "python benchmarks/time_to_quality.py conv --retrain-original"
_DIGEST_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")
#: The original ConvDAE.ipynb's recipe: 10 epochs, batches of 128, Adam at 0.001, noise factor 0.5.
ORIGINAL_DENOISER_RECIPE = {"epochs": 10, "batch_size": 128, "lr": 1e-3, "noise": 0.5, "seed": 0}
#: ch2_autoencoder.ipynb's recipe: the MSE, RMSprop, batches of 256, EarlyStopping(patience=5) on val_loss;
#: code size 10 at 3e-4 for up to 100 epochs, code size 2 at 1e-3 for up to 50. Keras' RMSprop has
#: rho 0.9 and epsilon 1e-7 (PyTorch's defaults: alpha 0.99, eps 1e-8), so we pass those.
ORIGINAL_CONV_RECIPES = {
    10: {"lr": 3e-4, "epochs": 100, "batch_size": 256, "patience": 5, "alpha": 0.9, "eps": 1e-7, "seed": 0},
    2: {"lr": 1e-3, "epochs": 50, "batch_size": 256, "patience": 5, "alpha": 0.9, "eps": 1e-7, "seed": 0},
}


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
    return load_published(Path(path), OriginalDenoiser, RETRAIN_ORIGINAL)


def train_original_conv(latent_dim: int, images: torch.Tensor, validation_data: torch.Tensor, *,
                        device: torch.device | str | None = None, callbacks: list[Callback] | tuple[()] = (),
                        speedups: bool = True, verbose: bool = True) -> tuple[ConvAutoencoder, History, EarlyStopping]:
    """Notebook 04's port of the original's recipe: ``(model, history, early_stopping)``, the model in eval mode.

    :class:`~aenb.models.ConvAutoencoder` (the upstream layers: linear code, no extra convolution) from
    seed 0, trained with the MSE and RMSprop as ``ch2_autoencoder.ipynb`` does (:data:`ORIGINAL_CONV_RECIPES`),
    stopped by ``EarlyStopping(patience=5)`` on ``val_loss``. The upstream notebook reloads its best
    checkpoint before showing results; ``restore_best_weights=True`` does the same in memory. Upstream
    validates on the test set; pass a validation split (notebook 04: the last 6,000 training images).
    ``speedups`` goes to :func:`~aenb.training.fit` (on CUDA it trains in bf16; the published run did not).
    """
    if latent_dim not in ORIGINAL_CONV_RECIPES:
        raise ValueError(f"the original trains code sizes {sorted(ORIGINAL_CONV_RECIPES)}, got {latent_dim!r}")
    recipe = ORIGINAL_CONV_RECIPES[latent_dim]
    generator = seed_everything(recipe["seed"])
    model = ConvAutoencoder(latent_dim)
    optimizer = original_conv_optimizer(model, latent_dim)
    stop = EarlyStopping(monitor="val_loss", patience=recipe["patience"], restore_best_weights=True)
    history = fit(model, images, epochs=recipe["epochs"], batch_size=recipe["batch_size"], loss="mse",
                  optimizer=optimizer, validation_data=validation_data, callbacks=[stop, *callbacks],
                  generator=generator, device=device, speedups=speedups, verbose=verbose)
    return model.eval(), history, stop


def original_conv_optimizer(model: torch.nn.Module, latent_dim: int = 10) -> torch.optim.RMSprop:
    """The original recipe's optimiser for a code size: RMSprop with its rate and Keras' constants."""
    recipe = ORIGINAL_CONV_RECIPES[latent_dim]
    return torch.optim.RMSprop(model.parameters(), lr=recipe["lr"], alpha=recipe["alpha"], eps=recipe["eps"])


def original_conv(latent_dim: int = 10) -> tuple[ConvAutoencoder, dict[str, Any]]:
    """The published run of notebook 04's original recipe for a code size of 10 or 2, ``(model, metadata)``,
    in eval mode on the CPU. ``metadata`` holds the recipe, ``epochs`` run, ``best_epoch`` (1-based, the
    restored one), ``val_mse`` and ``test_mse`` of the restored model, and ``per_epoch`` (validation and test
    MSE, images seen, training seconds) of that run."""
    if latent_dim not in ORIGINAL_CONV_WEIGHTS:
        raise ValueError(f"published original runs exist for code sizes {sorted(ORIGINAL_CONV_WEIGHTS)}, "
                         f"got {latent_dim!r}")
    return load_published(ORIGINAL_CONV_WEIGHTS[latent_dim], ConvAutoencoder, RETRAIN_ORIGINAL_CONV)


def load_published(path: Path, cls: type[torch.nn.Module], retrain: str) -> tuple[Any, dict[str, Any]]:
    """A published checkpoint of ``cls`` from ``weights/``, ``(model, metadata)``, after checking its SHA-256;
    ``retrain`` is the command that makes the file again (named in the errors)."""
    if not path.exists():
        raise FileNotFoundError(f"no published weights at {shown(path)}: restore the file from git "
                                f"(git checkout -- {shown(path)}) or retrain them with {retrain}")
    verify_published(path, retrain)
    return load_checkpoint(path, cls)


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


def verify_published(path: Path, retrain: str) -> None:
    """Refuse a published file whose SHA-256 is not the one recorded in ``SHA256SUMS`` beside it; the error
    names ``retrain``, the command that makes the file again."""
    sums = path.parent / DIGESTS
    expected, found = recorded_digests(path.parent).get(path.name), sha256(path)
    if expected == found:
        return
    restore = (f"restore it with `git checkout -- {shown(path)} {shown(sums)}` or retrain it (which records the new "
               f"digest) with `{retrain}`")
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
