"""Driving the static book (tools/build_book.py) in headless Chromium: for tests/test_book.py and
benchmarks/book_slider_latency.py.

Pages are opened from disk (file://), as a reader who double-clicks ``index.html`` does, and any
request that is not to a local file is refused and recorded: the book must need no network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from playwright.sync_api import Page, Route

#: How long a page may take to start its live explorers (decoding the 12 MB runtime included).
EXPLORERS_TIMEOUT_MS = 60_000

#: Sets slider ``j`` of live explorer ``i`` to ``fraction`` of its range, fires the input event a
#: drag fires, and waits for the image: returns the code drawn, the milliseconds from the event to
#: the image, and the canvas' grey levels (0-255, row by row).
SET_SLIDER_JS = """async ([i, j, fraction]) => {
  const root = document.querySelectorAll("div.aenb-explorer.aenb-live")[i];
  const input = root.querySelectorAll("input.aenb-slider")[j];
  const drawn = new Promise((resolve) => root.addEventListener("aenb-drawn", resolve, { once: true }));
  input.value = Number(input.min) + fraction * (Number(input.max) - Number(input.min));
  const start = performance.now();
  input.dispatchEvent(new Event("input", { bubbles: true }));
  await drawn;
  const ms = performance.now() - start;
  return { z: root.aenbDrawnZ, ms, grey: canvasGrey(root) };
}"""

#: The grey levels of live explorer ``i``'s canvas.
CANVAS_JS = "(i) => canvasGrey(document.querySelectorAll('div.aenb-explorer.aenb-live')[i])"

#: Defines ``canvasGrey(root)`` in the page (added with ``page.add_init_script``).
INIT_JS = """window.canvasGrey = (root) => {
  const canvas = root.querySelector("canvas.aenb-decoded");
  const rgba = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  return Array.from(rgba.filter((_, k) => k % 4 === 0));
};"""


def block_network(page: Page) -> list[str]:
    """Refuse every request that is not to a local file (or data:/blob:); returns the list of those refused."""
    refused: list[str] = []

    def handle(route: Route) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    page.route("**/*", handle)
    return refused


def open_book_page(page: Page, path: Path) -> None:
    """Open ``path`` from disk and wait until MathJax has typeset it and every explorer has started or failed."""
    page.add_init_script(INIT_JS)
    page.goto(path.resolve().as_uri(), wait_until="load")
    page.wait_for_function("() => !window.MathJax || (MathJax.startup && MathJax.startup.promise)")
    page.evaluate("() => window.MathJax ? MathJax.startup.promise : null")
    page.wait_for_function(
        "() => [...document.querySelectorAll('div.aenb-explorer')].every("
        "e => e.classList.contains('aenb-live') || e.classList.contains('aenb-failed'))",
        timeout=EXPLORERS_TIMEOUT_MS)


def set_slider(page: Page, explorer: int, slider: int, fraction: float) -> dict[str, Any]:
    """Move one slider (see :data:`SET_SLIDER_JS`); ``grey`` comes back as a float array in [0, 1]."""
    result = page.evaluate(SET_SLIDER_JS, [explorer, slider, fraction])
    result["grey"] = np.asarray(result["grey"], dtype=np.float64) / 255
    return result


def canvas(page: Page, explorer: int) -> np.ndarray:
    """Live explorer ``explorer``'s image as floats in [0, 1]."""
    return np.asarray(page.evaluate(CANVAS_JS, explorer), dtype=np.float64) / 255
