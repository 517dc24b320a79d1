"""End-to-end: every notebook slider works for a reader in a real browser, on the notebook's own run.

nbval only compares a notebook's stored outputs with a fresh run; it cannot see that a widget
shows "Error displaying widget: model not found", or only its text fallback
``interactive(children=(FloatSlider...``, instead of live sliders, nor that a slider moves and
the picture stays the same (notebook 04's fast mode once trained a collapsed model: a flat grey
image whatever the code). This test does what a reader does: JupyterLab from this environment,
the notebook in headless Chromium, the explorer cell run, a slider moved with the keyboard, and
the image on screen compared before and after -- for every notebook with a slider: 02, 03 and 04
(``LatentExplorer``: the decoded image) and 05 (``NoiseExplorer``: the noisy image), every
explorer in the notebook.

Design: each notebook runs once per ``make test``. A browser run of the whole notebook would be
a second run (up to minutes of training each), so the browser reuses nbval's. ``conftest.py``
moves each case to right after nbval's last cell of its notebook and hands it nbval's kernel,
which holds the finished fast-mode run (trained models, codes); JupyterLab accepts that kernel
as an external kernel (:func:`e2e_helpers.attach_kernel`), the notebook opens on it, all outputs
are cleared and only the cells that construct an explorer (their source contains
``LatentExplorer(`` / ``NoiseExplorer(``) are run again, as a reader who scrolls back to the
slider does. The explorer cell must display the explorer (its last expression). Run without
nbval in the same session (e.g. ``pytest -m e2e tests/test_e2e_browser.py``), there is no run to
reuse and the test runs the whole notebook in the browser (Run All Cells) instead.

It needs Debian's Chromium at ``/usr/bin/chromium`` (``apt-get install chromium``): without it
the test is skipped, except under ``CI=true`` where it fails. The before/after screenshots of
each image are written to ``artifacts/e2e/`` (or ``$AENB_ARTIFACTS/e2e/``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from e2e_helpers import (
    CHROMIUM,
    BrowserLog,
    LabServer,
    attach_kernel,
    detach_kernels,
    jupyterlab,
    launch_chromium,
    mean_abs_difference,
    open_notebook,
    pixel_spread,
    run_all_cells,
    run_cells_containing,
    run_failures,
    wait_for_image_loaded,
    wait_for_kernel_idle,
    widget_error_texts,
)
from nbval.kernel import RunningKernel
from playwright.sync_api import Locator, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]

#: Bounds on each wait. Re-running an explorer cell takes seconds; the run-all bound (used only
#: without nbval's kernel) leaves room for a fast-mode notebook on a loaded CI runner.
RUN_ALL_TIMEOUT_S = 300.0
RUN_CELLS_TIMEOUT_S = 90.0
WIDGET_TIMEOUT_S = 30.0
IMAGE_UPDATE_TIMEOUT_S = 20.0

#: PageUp/PageDown presses on the slider handle; each moves it by 5 steps (noUiSlider's
#: default), and LatentExplorer's sliders have 200 steps: 20 presses move it half its
#: range, towards the far end, so the whole move stays inside the range.
SLIDER_PAGE_PRESSES = 20


@dataclass(frozen=True)
class Explorer:
    """How to find one kind of explorer: the text of the cell that builds it, and the CSS classes
    ``aenb.widgets`` gives the explorer, its slider and the image that must change with it."""

    constructor: str
    explorer_css: str
    slider_css: str
    image_css: str


LATENT = Explorer("LatentExplorer(", ".aenb-latent-explorer", ".aenb-latent-slider", "img.aenb-latent-image")
NOISE = Explorer("NoiseExplorer(", ".aenb-noise-explorer", ".aenb-noise-slider", "img.aenb-noise-image")

#: Every notebook with a slider.
CASES = {
    "02_latent_space_3d.ipynb": LATENT,
    "03_variational_autoencoder.ipynb": LATENT,
    "04_conv_autoencoder.ipynb": LATENT,
    "05_denoising_autoencoder.ipynb": NOISE,
}

#: A moved slider must change its picture by at least this much on average (grey levels,
#: 0-255); identical screenshots give 0.
MIN_MEAN_DIFFERENCE = 0.5
#: A screenshot whose pixels spread less than this is taken as blank (e.g. a flat grey digit).
MIN_PIXEL_SPREAD = 2.0


def artifacts_dir() -> Path:
    """Where screenshots go: ``$AENB_ARTIFACTS/e2e`` or ``<repo>/artifacts/e2e`` (git-ignored)."""
    root = Path(os.environ.get("AENB_ARTIFACTS", REPO / "artifacts"))
    path = root / "e2e"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium; skip without it, but fail under ``CI=true`` where it must exist."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    reason = f"{CHROMIUM} not found: install Debian's Chromium (apt-get install chromium) to run the browser test"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI=true requires it (.ci/run installs it)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def lab(chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """One JupyterLab for the session, serving a temporary copy of the notebooks.

    The copy matters: the browser saves (and autosaves) the notebooks it opens, and the
    repository's committed notebooks must not change. Kernels it starts itself (only without
    nbval's) run in fast mode and write into private folders, not into the repository.
    """
    root = tmp_path_factory.mktemp("e2e")
    served = root / "notebooks"
    shutil.copytree(REPO / "notebooks", served, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    env = {"AENB_MODE": "fast", "AENB_CHECKPOINTS": str(root / "checkpoints"), "AENB_RESULTS": str(root / "results")}
    with jupyterlab(served, root / "jupyter", env=env) as server:
        yield server


@pytest.fixture
def browser_log() -> BrowserLog:
    """The page's console errors, for failure messages."""
    return BrowserLog()


@pytest.fixture
def page(lab: LabServer, browser_log: BrowserLog) -> Iterator[Page]:
    """A fresh headless Chromium page; the browser closes however the test ends."""
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            browser_log.attach(page)
            yield page
        finally:
            browser.close()
            detach_kernels(lab)


# --------------------------------------------------------------------------- the test


@pytest.mark.parametrize("notebook_name", [
    pytest.param(name, marks=pytest.mark.after_notebook(name), id=Path(name).stem) for name in CASES])
def test_sliders_change_their_images(page: Page, lab: LabServer, notebook_name: str, browser_log: BrowserLog,
                                     finished_notebook_kernel: RunningKernel | None) -> None:
    """Open the notebook in JupyterLab, run its explorer cells; moving each slider must redraw its image."""
    out = artifacts_dir()
    stem = Path(notebook_name).stem
    started = time.monotonic()
    try:
        count = _run_explorer_cells(page, lab, notebook_name, finished_notebook_kernel, browser_log)
        for k in range(count):
            _check_slider(page, CASES[notebook_name], k, browser_log, out / f"{stem}_explorer{k + 1}")
    except BaseException:
        with contextlib.suppress(Exception):  # best effort: never hide the real failure
            page.screenshot(path=str(out / f"{stem}_page_on_failure.png"), full_page=True)
        raise
    finally:
        print(f"e2e: {notebook_name} checked in {time.monotonic() - started:.1f} s; artefacts in {out}")


def _run_explorer_cells(page: Page, lab: LabServer, notebook_name: str, kernel: RunningKernel | None,
                        browser_log: BrowserLog) -> int:
    """Bring the notebook's explorers on screen, on nbval's finished kernel if there is one; returns how many."""
    case = CASES[notebook_name]
    run_started = time.monotonic()
    if kernel is not None:
        open_notebook(page, lab, notebook_name, kernel_id=attach_kernel(lab, kernel.km.connection_file))
        states = run_cells_containing(page, case.constructor, timeout_s=RUN_CELLS_TIMEOUT_S)
        what = f"{len(states)} explorer cell(s) on nbval's kernel"
    else:
        open_notebook(page, lab, notebook_name)
        states = run_all_cells(page, timeout_s=RUN_ALL_TIMEOUT_S)
        what = "all cells (no nbval run of this notebook in this session)"
    print(f"e2e: ran {what} of {notebook_name} in {time.monotonic() - run_started:.1f} s")
    problems = run_failures(states)
    assert not problems, "running the notebook failed:\n" + "\n".join(problems) + \
        f"\n--- browser ---\n{browser_log}\n--- server log ---\n{lab.log_tail()}"

    # Each explorer cell shows one explorer, rendered as live widgets, not as an error or a text fallback.
    count = sum(case.constructor in state["full_source"] for state in states)
    try:
        page.locator(case.explorer_css).nth(count - 1).wait_for(state="visible", timeout=WIDGET_TIMEOUT_S * 1000)
        rendered = True
    except PlaywrightTimeout:
        rendered = False
    errors = widget_error_texts(page)
    assert rendered and not errors, (
        f"{count} explorer(s) ({case.explorer_css}) expected, {page.locator(case.explorer_css).count()} shown "
        f"after running the notebook; widget errors in outputs: {errors or 'none'}\n--- browser ---\n{browser_log}")
    return count


def _check_slider(page: Page, case: Explorer, k: int, browser_log: BrowserLog, artefact_prefix: Path) -> None:
    """Move the first slider of the k-th explorer; its image must change. Screenshots: ``<prefix>_before/after.png``."""
    explorer = page.locator(case.explorer_css).nth(k)
    slider = explorer.locator(case.slider_css).first
    handle = slider.locator(".noUi-handle").first
    image = explorer.locator(case.image_css).first
    image.scroll_into_view_if_needed()
    wait_for_image_loaded(image)
    before = image.screenshot(path=str(artefact_prefix) + "_before.png", animations="disabled")
    src_before = image.get_attribute("src")

    # Move the slider by keyboard, as a reader may: focus the handle and press PageUp a few
    # times, or PageDown if it starts in the upper half (it may start at its maximum).
    key = "PageDown" if _in_upper_half(slider) else "PageUp"
    exact_before = handle.get_attribute("aria-valuetext")  # full precision, unlike the readout
    handle.focus()
    for _ in range(SLIDER_PAGE_PRESSES):
        handle.press(key)
    expect(handle, f"the slider did not move on {key} (value stays {exact_before})") \
        .not_to_have_attribute("aria-valuetext", exact_before or "", timeout=5_000)

    # The kernel's callback sends a new PNG: wait for it (bounded), then compare pixels.
    with contextlib.suppress(AssertionError):  # no new image: the comparison below says so
        expect(image).not_to_have_attribute("src", src_before or "", timeout=IMAGE_UPDATE_TIMEOUT_S * 1000)
    wait_for_kernel_idle(page, WIDGET_TIMEOUT_S)  # later slider events are drawn too
    wait_for_image_loaded(image)
    after = image.screenshot(path=str(artefact_prefix) + "_after.png", animations="disabled")

    low, high, now = (handle.get_attribute(name) for name in ("aria-valuemin", "aria-valuemax", "aria-valuetext"))
    moved = f"moving the slider of explorer {k + 1} (range {low} to {high}) from {exact_before} to {now}"
    spread = max(pixel_spread(before), pixel_spread(after))
    assert spread >= MIN_PIXEL_SPREAD, (
        f"the image is blank (pixel spread {spread:.2f} < {MIN_PIXEL_SPREAD}) before and after {moved}: "
        f"a collapsed model? (screenshots {artefact_prefix}_before.png / _after.png)")
    difference = mean_abs_difference(before, after)
    print(f"e2e: {moved}: mean pixel difference {difference:.2f} (at least {MIN_MEAN_DIFFERENCE} required)")
    assert difference >= MIN_MEAN_DIFFERENCE, (
        f"{moved} did not change the image: mean pixel difference {difference:.3f} < {MIN_MEAN_DIFFERENCE} "
        f"(screenshots {artefact_prefix}_before.png / _after.png)\n--- browser ---\n{browser_log}")
    assert not widget_error_texts(page), f"widget errors on the page: {widget_error_texts(page)}"
    status = explorer.locator(".aenb-explorer-status").first.text_content() or ""
    assert not status.strip(), f"{moved} failed in the kernel; the explorer says: {status.strip()}"


def _in_upper_half(slider: Locator) -> bool:
    """Whether a slider's handle sits right of its track's middle, as the reader sees it.

    Read from the layout, not from ``aria-valuenow``: noUiSlider rounds that to one
    decimal, which says nothing on a slider whose whole range is narrower than 0.1.
    """
    handle = slider.locator(".noUi-handle").first.bounding_box()
    track = slider.locator(".noUi-target").first.bounding_box()
    assert handle and track, "the slider's handle or track is not laid out"
    return handle["x"] + handle["width"] / 2 > track["x"] + track["width"] / 2
