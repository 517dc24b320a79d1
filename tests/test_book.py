"""The static book (``make book``, tools/build_book.py), opened from disk in headless Chromium.

The book is built once for this module, from the stored notebooks and the explorers' decoder
checkpoints (``notebooks/``, ``results/decoders/``; ``$AENB_BOOK_NOTEBOOKS`` and
``$AENB_BOOK_DECODERS`` point it elsewhere), into a temporary folder. Every page is opened over
file:// with the network refused, as a reader without a server or a connection would: no console
error, no request leaving the disk, every image loaded, every equation typeset by MathJax (no
raw ``$$``), no "Loading widget…" or widget left empty, every link between pages resolving. Each
live latent explorer must draw what PyTorch draws: three slider positions, the page's canvas
against the same checkpoint's ``decode`` in PyTorch (max difference ≤ 1/255), and a mouse drag
of a slider must change the image.

It needs Debian's Chromium at ``/usr/bin/chromium``: without it the browser tests skip, except
under ``CI=true`` where they fail (as tests/test_e2e_browser.py does).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote, urlparse

import nbformat
import numpy as np
import pytest
import torch
from book_helpers import block_network, canvas, open_book_page, set_slider
from e2e_helpers import CHROMIUM, BrowserLog, launch_chromium
from playwright.sync_api import Browser, sync_playwright

from aenb.models import MLPAutoencoder
from aenb.paths import ROOT
from aenb.widgets import LatentExplorer
from aenb.widgets.book import MIMETYPE, decoders_dir

sys.path.insert(0, str(ROOT / "tools"))
from build_book import build_book, load_decoder  # noqa: E402

pytestmark = pytest.mark.book

NOTEBOOKS = Path(os.environ.get("AENB_BOOK_NOTEBOOKS", ROOT / "notebooks"))
DECODERS = Path(os.environ.get("AENB_BOOK_DECODERS", decoders_dir("full")))
#: The notebooks whose latent explorers the book must show live.
LIVE_NOTEBOOKS = ("02_latent_space_3d", "03_variational_autoencoder", "04_conv_autoencoder")
#: Slider positions (fractions of the range) the page is checked at; slider k % latent_dim moves.
FRACTIONS = (0.15, 0.5, 0.85)
TOLERANCE = 1 / 255


def explorer_specs(notebook: Path) -> list[tuple[int, dict[str, Any]]]:
    """(cell index, spec) of each latent explorer output stored in ``notebook``."""
    cells = nbformat.read(notebook, as_version=4).cells
    return [(i, out["data"][MIMETYPE]) for i, cell in enumerate(cells) for out in cell.get("outputs", [])
            if MIMETYPE in out.get("data", {})]


def has_snapshot_after(notebook: Path, index: int) -> bool:
    """True when a cell after ``index`` (the explorer's) shows a PNG: the static snapshot."""
    cells = nbformat.read(notebook, as_version=4).cells[index + 1:]
    return any("image/png" in out.get("data", {}) for cell in cells for out in cell.get("outputs", []))


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The book built from :data:`NOTEBOOKS` and :data:`DECODERS`: its folder and its manifest."""
    out = tmp_path_factory.mktemp("book") / "html"
    return out, build_book(NOTEBOOKS, DECODERS, out)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium; skipped without it, except under ``CI=true``."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found: install Debian's Chromium (apt-get install chromium) to run the book test"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI=true requires it (.ci/run installs it)", pytrace=False)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


def test_a_displayed_explorer_saves_its_decoder_and_describes_its_sliders(monkeypatch: pytest.MonkeyPatch) -> None:
    """The book's entry of a displayed explorer: the sliders as shown, and the model saved under a stable name."""
    monkeypatch.setenv("AENB_MODE", "fast")
    torch.manual_seed(0)
    model = MLPAutoencoder(sizes=[784, 16, 2])
    explorer = LatentExplorer(model.decode, 2, ranges=[(-1, 1), (0, 3)], title="Explorer: a 2-d test")
    spec = explorer._repr_mimebundle_()[MIMETYPE]
    assert spec["decoder"] == "explorer-a-2-d-test.pt" and spec["image_shape"] == [28, 28]
    assert [(s["name"], s["min"], s["max"]) for s in spec["sliders"]] == [("z1", -1, 1), ("z2", 0, 3)]
    saved = load_decoder(decoders_dir() / spec["decoder"])
    assert decoders_dir() == Path(os.environ["AENB_RESULTS"]) / "fast" / "decoders"
    z = torch.tensor([[0.3, 1.2]])
    with torch.inference_mode():
        assert torch.equal(saved.decode(z), model.decode(z))
    plain = LatentExplorer(lambda z: torch.zeros(1, 784), 2, ranges=[(-1, 1)] * 2)
    assert plain._repr_mimebundle_()[MIMETYPE]["decoder"] is None  # no model behind it: the book shows the snapshot


def test_every_decoder_file_is_used_and_every_explorer_has_one_or_a_snapshot() -> None:
    """No orphan checkpoint in the decoders folder; an explorer without its decoder keeps its static snapshot."""
    referenced = {}
    for notebook in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        for index, spec in explorer_specs(notebook):
            referenced[spec["decoder"]] = notebook.name
            if spec["decoder"] is None or not (DECODERS / spec["decoder"]).exists():
                assert has_snapshot_after(notebook, index), (
                    f"{notebook.name}, cell {index}: expected the decoder {spec['decoder']} in {DECODERS} "
                    "or a static snapshot after the explorer; came neither")
    files = {p.name for p in DECODERS.glob("*.pt")} if DECODERS.exists() else set()
    assert files <= set(referenced), f"decoders no stored notebook output uses: {sorted(files - set(referenced))}"


def test_book_has_every_notebook_and_loads_nothing_remote(book: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = book
    notebooks = [p.stem for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))]
    assert manifest["pages"] == ["index", *notebooks]
    for stem in notebooks:  # every explorer whose decoder is there is live
        expected = sum(1 for _, s in explorer_specs(NOTEBOOKS / f"{stem}.ipynb")
                       if s["decoder"] and (DECODERS / s["decoder"]).exists())
        assert manifest["live_explorers"][stem] == expected, f"{stem}: live explorers"
    remote = re.compile(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=[\"']?(https?:)?//", re.I)
    for page in out.glob("*.html"):
        found = remote.search(page.read_text())
        assert found is None, f"{page.name} loads from the network: {found.group(0)}"
    assert "make lab" in re.sub(r"<[^>]+>", "", (out / "index.html").read_text()), "the front page names `make lab`"


def test_the_latent_explorers_of_notebooks_02_to_04_are_live(book: tuple[Path, dict[str, Any]]) -> None:
    """Their stored runs displayed each explorer with its book spec and saved its decoder (a full-mode run does)."""
    _, manifest = book
    missing = [stem for stem in LIVE_NOTEBOOKS if manifest["live_explorers"].get(stem, 0) < 1]
    assert not missing, (f"expected at least one live explorer in each of {LIVE_NOTEBOOKS}; came none in {missing}: "
                         f"re-run them (full mode) so their explorer outputs carry {MIMETYPE} and {DECODERS} "
                         "holds the decoders")


def check_page(browser: Browser, out: Path, name: str) -> list[str]:
    """Open one page from disk and list what is wrong with it (empty when nothing is)."""
    page = browser.new_page()
    log = BrowserLog()
    log.attach(page)
    refused = block_network(page)
    try:
        open_book_page(page, out / f"{name}.html")
        problems = [f"refused request: {url}" for url in refused] + log.messages
        problems += [f"image not loaded: {src}" for src in page.evaluate(
            "() => [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")]
        problems += [f"equation not typeset: {tex[:80]}" for tex in page.evaluate(
            "() => [...document.querySelectorAll('.math')].filter(m => !m.querySelector('mjx-container'))"
            ".map(m => m.textContent)")]
        text = page.evaluate("() => { const b = document.body.cloneNode(true);"
                             " b.querySelectorAll('pre, code, script').forEach(e => e.remove()); return b.innerText; }")
        problems += [f"{shown!r} left in the text" for shown in ("$$", "Loading widget") if shown in text]
        problems += [f"explorer did not start: {t[:200]}" for t in page.evaluate(
            "() => [...document.querySelectorAll('div.aenb-explorer:not(.aenb-live)')].map(e => e.innerText)")]
        problems += ["empty widget box"] * page.evaluate("() => document.querySelectorAll('.jupyter-widgets, "
                                                          ".widget-area, script[type*=\"widget-view\"]').length")
        for href in page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)"):
            problems += broken_link(href, out)
        return problems
    finally:
        page.close()


def broken_link(href: str, out: Path) -> list[str]:
    """``["broken link: ..."]`` when ``href`` is a file:// link to a missing file or anchor of the book, else []."""
    url = urlparse(href)
    if url.scheme != "file":
        return []  # web links (the original articles) are the reader's to follow
    target = Path(unquote(url.path))
    if not target.is_file():
        return [f"broken link: {href} (no such file)"]
    if url.fragment and target.suffix == ".html" and f'id="{url.fragment}"' not in target.read_text():
        return [f"broken link: {href} (no such anchor)"]
    return []


def test_every_page_renders_offline(browser: Browser, book: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = book
    problems = {name: check_page(browser, out, name) for name in manifest["pages"]}
    assert not {k: v for k, v in problems.items() if v}, json.dumps(problems, indent=1)


def test_live_explorers_draw_what_pytorch_draws(browser: Browser, book: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = book
    checked = 0
    for name, count in manifest["live_explorers"].items():
        if not count:
            continue
        page = browser.new_page()
        open_book_page(page, out / f"{name}.html")
        for i, key in enumerate(page.evaluate("() => [...document.querySelectorAll('div.aenb-explorer.aenb-live')]"
                                              ".map(e => e.dataset.decoder)")):
            model = load_decoder(DECODERS / f"{key}.pt")
            for k, fraction in enumerate(FRACTIONS):
                drawn = set_slider(page, i, k % model.latent_dim, fraction)
                with torch.inference_mode():
                    expected = model.decode(torch.tensor([drawn["z"]], dtype=torch.float32)).numpy().reshape(-1)
                diff = float(np.abs(drawn["grey"] - np.clip(expected, 0, 1)).max())
                assert diff <= TOLERANCE, f"{name}, {key}, z={drawn['z']}: max pixel difference {diff:.4f} > 1/255"
                checked += 1
            before = canvas(page, i)
            slider = page.locator("div.aenb-explorer.aenb-live").nth(i).locator("input.aenb-slider").first
            slider.scroll_into_view_if_needed()
            value, box = slider.input_value(), slider.bounding_box()
            page.mouse.move(box["x"] + 0.1 * box["width"], box["y"] + box["height"] / 2)
            page.mouse.down()
            page.mouse.move(box["x"] + 0.9 * box["width"], box["y"] + box["height"] / 2, steps=5)
            page.mouse.up()
            assert slider.input_value() != value, f"{name}, {key}: a mouse drag did not move the z1 slider"
            page.wait_for_function("(i) => { const e = document.querySelectorAll('div.aenb-explorer.aenb-live')[i];"
                                   " return e.aenbDrawnZ && Math.abs(e.aenbDrawnZ[0] -"
                                   " Number(e.querySelector('input.aenb-slider').value)) < 1e-9; }", arg=i)
            assert np.abs(canvas(page, i) - before).max() > 0.1, f"{name}, {key}: dragging z1 left the image unchanged"
        page.close()
    assert checked == 3 * sum(manifest["live_explorers"].values())
