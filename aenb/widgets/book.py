"""What a latent explorer leaves in its notebook for the static book: a spec and its decoder.

The book (``make book``, tools/build_book.py) is built from the stored notebooks without a
kernel, and a stored notebook keeps no widget state. So when a :class:`LatentExplorer` is
displayed, its output also carries :data:`MIMETYPE`: a small JSON spec of the sliders (names,
ranges, step, start), the image shape, the title, and the file name of its decoder. At the same
time the model behind the decoder is saved as an aenb checkpoint (:func:`aenb.checkpoints.save_checkpoint`)
under ``<results>/decoders/`` -- ``results/decoders/`` in full mode, ``results/<mode>/decoders/``
otherwise, ``$AENB_RESULTS`` overriding ``results/`` -- so the notebook stays light (no weights
inside it). The book builder exports that checkpoint to ONNX and the page runs it; JupyterLab
ignores the entry (its widget view wins).

File names are stable: the explorer's title in lower case, runs of other characters turned into
``-`` (``"Latent explorer: notebook 01's autoencoder, 3-d code"`` ->
``latent-explorer-notebook-01-s-autoencoder-3-d-code.pt``), or the model's class and code size
without a title. A re-run overwrites its own file and nothing else.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from ..checkpoints import save_checkpoint
from ..inference import owner_module
from ..paths import get_mode, output_dir

if TYPE_CHECKING:
    from .latent import LatentExplorer

#: The output entry the book builder looks for; JupyterLab has no renderer for it and skips it.
MIMETYPE = "application/vnd.aenb.latent-explorer+json"
#: Version of the spec's layout, so a builder can refuse a spec it does not know.
SPEC_VERSION = 1


def decoders_dir(mode: str | None = None) -> Path:
    """Where displayed explorers save their decoders: ``<results>/decoders`` (a mode sub-folder outside full mode)."""
    return output_dir("results", mode or get_mode()) / "decoders"


def decoder_model(decoder: Any) -> nn.Module | None:
    """The aenb model behind ``decoder`` (``model.decode`` -> ``model``; a module itself), or None.

    Only a module with a ``config`` dict can be saved as a checkpoint and rebuilt by the book.
    """
    owner = owner_module(decoder)
    return owner if isinstance(getattr(owner, "config", None), dict) else None


def decoder_file_name(title: str | None, model: nn.Module) -> str:
    """The stable file name of an explorer's decoder: its title as a slug, else class and code size."""
    base = title or f"{type(model).__name__}-z{getattr(model, 'latent_dim', 'x')}"
    slug = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")[:80].rstrip("-")
    return f"{slug or 'decoder'}.pt"


def explorer_spec(explorer: LatentExplorer, decoder_file: str | None) -> dict[str, Any]:
    """The JSON the book renders live sliders from: the explorer's sliders, image shape and decoder file."""
    return {
        "version": SPEC_VERSION,
        "title": explorer.title,
        "latent_dim": explorer.latent_dim,
        "sliders": [{"name": s.description, "min": s.min, "max": s.max, "step": s.step, "value": s.value}
                    for s in explorer.sliders],
        "image_shape": list(explorer.image.shape),
        "decoder": decoder_file,
    }


def book_entry(explorer: LatentExplorer) -> dict[str, Any]:
    """Save the explorer's decoder (when it is an aenb model) and return its spec for :data:`MIMETYPE`.

    A decoder that is a plain function has no checkpoint: the spec then says ``"decoder": null``
    and the book shows the static snapshot instead of live sliders.
    """
    model = decoder_model(explorer.decoder)
    file_name = None
    if model is not None:
        file_name = decoder_file_name(explorer.title, model)
        save_checkpoint(model, decoders_dir() / file_name, {"title": explorer.title, "mode": get_mode()})
    return explorer_spec(explorer, file_name)
