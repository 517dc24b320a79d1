"""Build the series as a static HTML book from the stored notebooks: ``make book``.

    python tools/build_book.py                       # notebooks/ + results/decoders/ -> build/book/
    python tools/build_book.py --notebooks DIR --decoders DIR --out DIR

Nothing is executed: Sphinx + myst-nb (book/conf.py) render the outputs stored in the notebooks.
Before that, a staging copy is made in which

* the front page (``index.md``) is the README's series table, with how to run it for real;
* every widget output loses its widget view (the stored notebooks keep no widget state, so a
  viewer could only show "Loading widget..."): a latent explorer's output (its
  :data:`aenb.widgets.book.MIMETYPE` spec) becomes live sliders when its decoder checkpoint is in
  ``--decoders``, exported here to ONNX and run in the page by onnxruntime-web; any other widget,
  or an explorer whose decoder is missing, becomes a line pointing at the static snapshot below it;
* onnxruntime-web and MathJax are copied from ``book/node_modules`` (``npm ci --prefix book``),
  as classic scripts, so the book works offline and opened from disk (file://).

It writes ``<out>/aenb-book.json``: the pages, each live explorer's decoder and ONNX size, and
the book's total size (what the README and tests/test_book.py read).
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import nbformat
import torch
from torch import nn

from aenb import models
from aenb.checkpoints import load_checkpoint, read_checkpoint
from aenb.paths import ROOT, atomic_write
from aenb.widgets.book import MIMETYPE, SPEC_VERSION, decoders_dir

BOOK = ROOT / "book"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
ORT_DIST = Path("onnxruntime-web/dist")
#: onnxruntime-web's classic-script build (global ``ort``), its wasm loader and binary (plain SIMD, one thread).
ORT_SCRIPT, ORT_GLUE, ORT_WASM = "ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"
MATHJAX = Path("mathjax/es5/tex-svg-full.js")  # TeX input, SVG output and its fonts in one file
#: A Markdown link to a file outside the book (not a page, not a web address): its text is kept.
OUTSIDE_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\((?!https?:|mailto:|#)(?![0-9][0-9]_\w+\.ipynb)[^)\s]+\)")
NO_KERNEL_NOTE = ("<p class='aenb-no-kernel'>Interactive widget: it needs a running kernel "
                  "(<code>make lab</code>). The static snapshot below shows it.</p>")


class _Decode(nn.Module):
    """``model.decode`` as a module's forward, for the ONNX exporter."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.decode(z)


def load_decoder(path: Path) -> nn.Module:
    """The aenb model saved at ``path`` by a displayed explorer (:func:`aenb.widgets.book.book_entry`), in eval mode."""
    cls_name = read_checkpoint(path)["class"]
    cls = getattr(models, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(f"{path}: expected a checkpoint of an aenb.models class, came one of {cls_name!r}")
    model, _ = load_checkpoint(path, cls)
    return model


def export_onnx(model: nn.Module) -> bytes:
    """``model.decode`` for one code ``(1, latent_dim)`` as ONNX bytes (PyTorch's TorchScript-based exporter).

    The dynamo exporter (torch.export) refuses the models' input checks, so the tracing one is used;
    tests/test_book.py checks the page's images against PyTorch.
    """
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on the shape checks, the exporter's deprecation
        path = Path(tmp) / "decoder.onnx"
        torch.onnx.export(_Decode(model).eval(), (torch.zeros(1, model.latent_dim),), str(path), dynamo=False,
                          input_names=["z"], output_names=["image"])
        return path.read_bytes()


def front_page(readme: str) -> str:
    """The book's ``index.md``: the README's title and series section, links to the pages, and ``make lab``."""
    title = readme.splitlines()[0]
    match = re.search(r"^## The series\n(.*?)(?=^## )", readme, flags=re.S | re.M)
    if not title.startswith("# ") or match is None:
        raise ValueError("README.md: expected a '# title' first line and a '## The series' section")
    series = re.sub(r"\(notebooks/(\d\d_\w+\.ipynb)\)", r"(\1)", match.group(1)).strip()
    pages = re.findall(r"\((\d\d_\w+)\.ipynb\)", series)
    return "\n\n".join([
        title, "## The series", series,
        "## Run it for real\n\nThis book shows the outputs stored in the notebooks; its latent explorers run "
        "the stored decoders in the page. To train the models, change the code and run every cell yourself, "
        "clone the repository and run `make lab`: it sets up `.venv/` and opens the series in JupyterLab "
        "(`make test` runs every test).",
        "```{toctree}\n:maxdepth: 1\n:caption: The series\n:hidden:\n\n" + "\n".join(pages) + "\n```\n"])


def explorer_html(spec: dict[str, Any], decoder_key: str, first: bool) -> str:
    """The live explorer's element (built by aenb-explorer.js) and, on a page's first one, the runtime scripts."""
    scripts = ["ort.wasm.min.js", "ort-runtime.js", "aenb-explorer.js"] if first else []
    tags = "".join(f"<script src='_static/aenb/{name}'></script>" for name in scripts)
    tags += f"<script src='_static/aenb/decoders/{decoder_key}.js'></script>"
    payload = json.dumps(spec).replace("</", "<\\/")  # a title cannot close the script element
    return (f"<div class='aenb-explorer' data-decoder='{html.escape(decoder_key)}'>"
            f"<script type='application/json' class='aenb-explorer-spec'>{payload}</script>"
            f"<p>Live explorer: loading its decoder…</p></div>{tags}")


def stage_notebook(notebook: nbformat.NotebookNode, decoders: Path, live: dict[str, bytes]) -> int:
    """Turn ``notebook``'s widget outputs into live explorers or notes, in place; returns the live ones.

    ``live`` maps each decoder exported so far to its ONNX bytes; new ones are added.
    """
    notebook.metadata.pop("widgets", None)
    count = 0
    for cell in notebook.cells:
        if cell.cell_type == "markdown":  # links to the repository's files have no page in the book
            cell.source = OUTSIDE_LINK.sub(r"\1", cell.source)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW not in data and MIMETYPE not in data:
                continue
            spec = data.pop(MIMETYPE, None)
            data.pop(WIDGET_VIEW, None)
            if spec is not None and spec.get("version") != SPEC_VERSION:
                raise ValueError(f"explorer spec version: expected {SPEC_VERSION}, came {spec.get('version')!r}")
            checkpoint = decoders / spec["decoder"] if spec and spec.get("decoder") else None
            if checkpoint is not None and checkpoint.exists():
                key = checkpoint.stem
                if key not in live:
                    live[key] = export_onnx(load_decoder(checkpoint))
                data["text/html"] = explorer_html(spec, key, first=count == 0)
                count += 1
            else:
                data["text/html"] = NO_KERNEL_NOTE
    return count


def stage(notebooks: Path, decoders: Path, node_modules: Path, src: Path) -> dict[str, Any]:
    """Write the book's sources into ``src``; returns what went in (pages, live explorers, ONNX sizes)."""
    paths = sorted(notebooks.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no notebooks NN_name.ipynb in {notebooks}")
    static = src / "_static"
    for name in (ORT_DIST / ORT_SCRIPT, ORT_DIST / ORT_GLUE, ORT_DIST / ORT_WASM, MATHJAX):
        if not (node_modules / name).exists():
            raise FileNotFoundError(f"expected {node_modules / name}: run `npm ci --prefix book` (make book does)")
    (static / "aenb" / "decoders").mkdir(parents=True)
    (static / "mathjax").mkdir()
    shutil.copy(node_modules / MATHJAX, static / "mathjax")
    shutil.copy(node_modules / ORT_DIST / ORT_SCRIPT, static / "aenb")
    for name in ("aenb-explorer.js", "aenb-book.css"):
        shutil.copy(BOOK / "static" / name, static / "aenb")
    runtime = {"glue": (node_modules / ORT_DIST / ORT_GLUE).read_text(),
               "wasm": base64.b64encode((node_modules / ORT_DIST / ORT_WASM).read_bytes()).decode()}
    (static / "aenb" / "ort-runtime.js").write_text(f"window.AENB_ORT = {json.dumps(runtime)};\n")

    live: dict[str, bytes] = {}
    pages = {}
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        pages[path.stem] = stage_notebook(notebook, decoders, live)
        nbformat.write(notebook, src / path.name)
    for key, onnx in live.items():
        (static / "aenb" / "decoders" / f"{key}.js").write_text(
            f"(window.AENB_DECODERS = window.AENB_DECODERS || {{}})[{json.dumps(key)}] = "
            f"'{base64.b64encode(onnx).decode()}';\n")
    (src / "index.md").write_text(front_page((ROOT / "README.md").read_text()))
    return {"pages": ["index", *pages], "live_explorers": pages,
            "runtime_bytes": (static / "aenb" / "ort-runtime.js").stat().st_size,
            "decoders": {key: {"checkpoint": f"{key}.pt", "onnx_bytes": len(onnx)} for key, onnx in live.items()}}


def build_book(notebooks: Path, decoders: Path, out: Path, node_modules: Path = BOOK / "node_modules"
               ) -> dict[str, Any]:
    """Stage the sources and run Sphinx into ``out`` (replaced); writes and returns ``out/aenb-book.json``."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aenb-book-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        manifest = stage(notebooks, decoders, node_modules, src)
        if out.exists():
            shutil.rmtree(out)
        shutil.copy(BOOK / "conf.py", src)  # Sphinx reads html_static_path relative to the configuration
        subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", str(src), str(out)], check=True)
    shutil.rmtree(out / ".doctrees", ignore_errors=True)
    manifest["seconds"] = round(time.perf_counter() - start, 1)
    manifest["total_bytes"] = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    atomic_write(out / "aenb-book.json", lambda tmp: tmp.write_text(json.dumps(manifest, indent=2) + "\n"))
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the series as a static HTML book from the stored notebooks")
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks")
    parser.add_argument("--decoders", type=Path, default=decoders_dir("full"),
                        help="folder of the explorers' decoder checkpoints (default: results/decoders)")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "book")
    args = parser.parse_args(argv)
    manifest = build_book(args.notebooks, args.decoders, args.out)
    live = sum(manifest["live_explorers"].values())
    print(f"book: {args.out / 'index.html'} ({len(manifest['pages'])} pages, {live} live explorers, "
          f"{manifest['total_bytes'] / 1e6:.1f} MB, {manifest['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
