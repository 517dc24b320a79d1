"""End-to-end: the notebooks' sliders work for a reader in a real browser.

nbval only compares a notebook's stored outputs with a fresh run; it cannot see that a
widget shows "Error displaying widget: model not found", or only its text fallback
``interactive(children=(FloatSlider...``, instead of live sliders. This test does what a
reader does: it starts JupyterLab from this environment, opens the notebook in headless
Chromium, runs all cells (``AENB_MODE=fast``), moves a slider with the keyboard and checks
that the image on screen changes: notebook 02's latent explorer (the decoded image) and
notebook 05's noise slider (the noisy digit).

Run it alone with ``pytest -m e2e tests/test_e2e_browser.py``. It needs Debian's Chromium
at ``/usr/bin/chromium`` (``apt-get install chromium``): without it the test is skipped,
except under ``CI=true`` where it fails. The before/after screenshots of the decoded image
are written to ``artifacts/e2e/`` (or ``$AENB_ARTIFACTS/e2e/``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path
from typing import Iterator

import pytest
from e2e_helpers import (
    CHROMIUM,
    BrowserLog,
    LabServer,
    jupyterlab,
    launch_chromium,
    mean_abs_difference,
    open_notebook,
    pixel_spread,
    run_all_cells,
    run_failures,
    wait_for_image_loaded,
    wait_for_kernel_idle,
    widget_error_texts,
)
from playwright.sync_api import Locator, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]

#: Bounds on each wait. The fast-mode notebook runs in well under a minute on an idle
#: machine; the run-all bound leaves room for a loaded CI runner.
RUN_ALL_TIMEOUT_S = 150.0
WIDGET_TIMEOUT_S = 30.0
IMAGE_UPDATE_TIMEOUT_S = 20.0

#: PageUp/PageDown presses on the slider handle; each moves it by 5 steps (noUiSlider's
#: default), and LatentExplorer's sliders have 200 steps: 20 presses move it half its
#: range, towards the far end, so the whole move stays inside the range.
SLIDER_PAGE_PRESSES = 20

#: Per notebook: the CSS classes ``aenb.widgets`` gives the explorer, its slider and the image
#: that must change when the slider moves.
CASES = {
    "02_latent_space_3d.ipynb": (".aenb-latent-explorer", ".aenb-latent-slider", "img.aenb-latent-image"),
    "05_denoising_autoencoder.ipynb": (".aenb-noise-explorer", ".aenb-noise-slider", "img.aenb-noise-image"),
}

#: A moved latent coordinate must change the decoded picture by at least this much on
#: average (grey levels, 0-255); identical screenshots give 0.
MIN_MEAN_DIFFERENCE = 0.5
#: A screenshot whose pixels spread less than this is taken as blank.
MIN_PIXEL_SPREAD = 2.0


def artifacts_dir() -> Path:
    """Where screenshots go: ``$AENB_ARTIFACTS/e2e`` or ``<repo>/artifacts/e2e`` (git-ignored)."""
    root = Path(os.environ.get("AENB_ARTIFACTS", REPO / "artifacts"))
    path = root / "e2e"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def notebooks_dir() -> Path:
    """The folder of notebooks to serve (a copy of it, see :func:`lab`)."""
    return REPO / "notebooks"


@pytest.fixture
def notebook_name() -> str:
    """The notebook under test, relative to :func:`notebooks_dir`."""
    return "02_latent_space_3d.ipynb"


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium; skip without it, but fail under ``CI=true`` where it must exist."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    reason = f"{CHROMIUM} not found: install Debian's Chromium (apt-get install chromium) to run the browser test"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI=true requires it (.ci/run installs it)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def lab(chromium: Path, notebooks_dir: Path, notebook_name: str,
        tmp_path: Path) -> Iterator[LabServer]:
    """JupyterLab serving a temporary copy of the notebooks, kernels in ``AENB_MODE=fast``.

    The copy matters: the browser saves (and autosaves) the notebook it runs, and the
    repository's committed notebook must not change. The kernels inherit this process's
    environment, including the private ``AENB_RESULTS`` / ``AENB_CHECKPOINTS`` folders set
    by ``conftest.py``, so the run writes no results or checkpoints into the repository.
    """
    if not (notebooks_dir / notebook_name).is_file():
        pytest.fail(f"{notebooks_dir / notebook_name} does not exist", pytrace=False)
    served = tmp_path / "notebooks"
    shutil.copytree(notebooks_dir, served, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    with jupyterlab(served, tmp_path / "jupyter", env={"AENB_MODE": "fast"}) as server:
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


# --------------------------------------------------------------------------- the test


@pytest.mark.parametrize("notebook_name", list(CASES))
def test_slider_updates_image(page: Page, lab: LabServer, notebook_name: str, browser_log: BrowserLog) -> None:
    """Run the notebook in JupyterLab; moving its slider must redraw the image it drives."""
    out = artifacts_dir()
    stem = Path(notebook_name).stem
    started = time.monotonic()
    try:
        _check_latent_explorer(page, lab, notebook_name, browser_log, out / stem)
    except BaseException:
        with contextlib.suppress(Exception):  # best effort: never hide the real failure
            page.screenshot(path=str(out / f"{stem}_page_on_failure.png"), full_page=True)
        raise
    finally:
        print(f"e2e: {notebook_name} checked in {time.monotonic() - started:.1f} s; artefacts in {out}")


def _check_latent_explorer(page: Page, lab: LabServer, notebook_name: str,
                           browser_log: BrowserLog, artefact_prefix: Path) -> None:
    """The reader's steps and what they must see; screenshots go to ``<prefix>_before/after.png``."""
    explorer_css, slider_css, image_css = CASES[notebook_name]
    # 1. Open the notebook and run every cell, as Run > Run All Cells does.
    open_notebook(page, lab, notebook_name)
    run_started = time.monotonic()
    states = run_all_cells(page, timeout_s=RUN_ALL_TIMEOUT_S)
    print(f"e2e: ran all cells of {notebook_name} in {time.monotonic() - run_started:.1f} s")
    problems = run_failures(states)
    assert not problems, "running the notebook failed:\n" + "\n".join(problems) + \
        f"\n--- browser ---\n{browser_log}\n--- server log ---\n{lab.log_tail()}"

    # 2. The explorer is rendered as live widgets, not as an error or a text fallback.
    explorer = page.locator(explorer_css).first
    try:
        explorer.wait_for(state="visible", timeout=WIDGET_TIMEOUT_S * 1000)
        rendered = True
    except PlaywrightTimeout:
        rendered = False
    errors = widget_error_texts(page)
    assert rendered and not errors, (
        f"the explorer ({explorer_css}) is {'shown' if rendered else 'not shown'} after running "
        f"the notebook; widget errors in outputs: {errors or 'none'}\n--- browser ---\n{browser_log}")

    slider = explorer.locator(slider_css).first
    handle = slider.locator(".noUi-handle").first
    image = explorer.locator(image_css).first
    image.scroll_into_view_if_needed()
    wait_for_image_loaded(image)
    before = image.screenshot(path=str(artefact_prefix) + "_before.png", animations="disabled")
    src_before = image.get_attribute("src")

    # 3. Move the slider by keyboard, as a reader may: focus the handle and press PageUp a
    #    few times, or PageDown if it starts in the upper half (it may start at its maximum).
    key = "PageDown" if _in_upper_half(slider) else "PageUp"
    exact_before = handle.get_attribute("aria-valuetext")  # full precision, unlike the readout
    handle.focus()
    for _ in range(SLIDER_PAGE_PRESSES):
        handle.press(key)
    expect(handle, f"the slider did not move on {key} (value stays {exact_before})") \
        .not_to_have_attribute("aria-valuetext", exact_before or "", timeout=5_000)

    # 4. The kernel's callback sends a new PNG: wait for it (bounded), then compare pixels.
    with contextlib.suppress(AssertionError):  # no new image: the comparison below says so
        expect(image).not_to_have_attribute("src", src_before or "",
                                            timeout=IMAGE_UPDATE_TIMEOUT_S * 1000)
    wait_for_kernel_idle(page, WIDGET_TIMEOUT_S)  # later slider events are drawn too
    wait_for_image_loaded(image)
    after = image.screenshot(path=str(artefact_prefix) + "_after.png", animations="disabled")

    assert max(pixel_spread(before), pixel_spread(after)) >= MIN_PIXEL_SPREAD, \
        "the decoded image is blank before and after moving the slider"
    difference = mean_abs_difference(before, after)
    print(f"e2e: slider {exact_before} -> {handle.get_attribute('aria-valuetext')}, "
          f"mean pixel difference {difference:.2f} (at least {MIN_MEAN_DIFFERENCE} required)")
    assert difference >= MIN_MEAN_DIFFERENCE, (
        f"moving the slider (range {handle.get_attribute('aria-valuemin')} to "
        f"{handle.get_attribute('aria-valuemax')}) from {exact_before} to "
        f"{handle.get_attribute('aria-valuetext')} did not change the "
        f"decoded image: mean pixel difference {difference:.3f} < {MIN_MEAN_DIFFERENCE} "
        f"(screenshots {artefact_prefix}_before.png / _after.png)\n--- browser ---\n{browser_log}")
    assert not widget_error_texts(page), f"widget errors on the page: {widget_error_texts(page)}"


def _in_upper_half(slider: Locator) -> bool:
    """Whether a slider's handle sits right of its track's middle, as the reader sees it.

    Read from the layout, not from ``aria-valuenow``: noUiSlider rounds that to one
    decimal, which says nothing on a slider whose whole range is narrower than 0.1.
    """
    handle = slider.locator(".noUi-handle").first.bounding_box()
    track = slider.locator(".noUi-target").first.bounding_box()
    assert handle and track, "the slider's handle or track is not laid out"
    return handle["x"] + handle["width"] / 2 > track["x"] + track["width"] / 2
