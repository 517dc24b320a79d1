"""The notebook harness: each notebook runs once per ``make test``, in strict nbval, and two more
checks come out of that one run. (Shared test fixtures are in ``tests/conftest.py``; these hooks
live at the top so that they also apply to the cells of ``notebooks/*.ipynb``.)

* **No notebook depends on another's files.** Each notebook's kernel starts with its own empty
  ``AENB_CHECKPOINTS`` and ``AENB_RESULTS`` folders (nbval starts the kernel when the notebook's
  first cell is set up, and the kernel inherits ``os.environ``): a notebook that reuses notebook
  01's model must re-create it, and one that cannot fails its cell.
* **Its sliders work in a browser.** A test marked ``after_notebook("NN_name.ipynb")`` is moved to
  right after that notebook's last cell, and nbval's kernel, which then holds the finished run, is
  handed to it (fixture :func:`finished_notebook_kernel`) instead of being stopped: the browser
  test (tests/test_e2e_browser.py) opens the notebook in JupyterLab on that kernel and re-runs only
  its explorer cells.
"""

from __future__ import annotations

import os
from typing import Iterator

import pytest
from nbval.kernel import RunningKernel
from nbval.plugin import IPyNbCell

from aenb.widgets.book import MIMETYPE as BOOK_MIMETYPE

#: What each notebook kernel gets a private, empty folder for.
PRIVATE_FOLDERS = ("AENB_CHECKPOINTS", "AENB_RESULTS")
#: notebook file name -> nbval's kernel, alive after the notebook's last cell, until a test takes it.
_FINISHED_KERNELS = pytest.StashKey[dict[str, RunningKernel]]()
#: notebooks whose kernel a selected ``after_notebook`` test will take.
_HANDED_OVER = pytest.StashKey[set[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_FINISHED_KERNELS] = {}
    config.stash[_HANDED_OVER] = set()


@pytest.hookimpl(trylast=True)  # after -k / -m deselection, so only tests that will run are counted
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Move each ``after_notebook(name)`` test to right after nbval's last cell of that notebook."""
    last_cell = {item.parent.path.name: item for item in items if isinstance(item, IPyNbCell)}
    for cell in last_cell.values():  # the book's spec of an explorer holds run-specific slider ranges:
        cell.parent.skip_compare += (BOOK_MIMETYPE,)  # tests/test_book.py checks it, nbval does not compare it
    followers: dict[str, list[pytest.Item]] = {}
    for item in items:
        marker = item.get_closest_marker("after_notebook")
        if marker is not None and marker.args[0] in last_cell:
            followers.setdefault(marker.args[0], []).append(item)
    moved = {id(item) for group in followers.values() for item in group}
    ordered = []
    for item in items:
        if id(item) in moved:
            continue
        ordered.append(item)
        if isinstance(item, IPyNbCell) and last_cell[item.parent.path.name] is item:
            ordered.extend(followers.get(item.parent.path.name, []))
    items[:] = ordered
    config.stash[_HANDED_OVER] = set(followers)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """Before nbval starts a notebook's kernel (at its first cell): private, empty output folders."""
    notebook = item.parent if isinstance(item, IPyNbCell) else None
    if notebook is None or notebook.kernel is not None:
        return (yield)
    # pytest's own temporary-folder factory (pytest >= 7 keeps it on the config), so the folders
    # land under the session's basetemp like every tmp_path.
    folder = item.config._tmp_path_factory.mktemp(f"nbval-{notebook.path.stem}")
    saved = {name: os.environ.get(name) for name in PRIVATE_FOLDERS}
    os.environ.update({name: str(folder / name.removeprefix("AENB_").lower()) for name in PRIVATE_FOLDERS})
    try:
        return (yield)
    finally:  # the kernel has started with them; the rest of the session keeps its own values
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.hookimpl(tryfirst=True)  # before pytest tears the notebook down, which stops its kernel
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After a notebook's last cell: keep its kernel for the ``after_notebook`` test that follows."""
    if not isinstance(item, IPyNbCell) or (nextitem is not None and nextitem.parent is item.parent):
        return
    notebook = item.parent
    if notebook.path.name in item.config.stash[_HANDED_OVER] and notebook.kernel is not None:
        if notebook.kernel.is_alive():
            item.config.stash[_FINISHED_KERNELS][notebook.path.name] = notebook.kernel
            notebook.kernel = None  # nbval's teardown stops only a kernel it still holds


@pytest.fixture
def finished_notebook_kernel(request: pytest.FixtureRequest) -> Iterator[RunningKernel | None]:
    """nbval's kernel of the notebook named by this test's ``after_notebook`` marker, after nbval ran every
    cell in it; None when nbval did not run that notebook in this session. Stopped when the test ends."""
    marker = request.node.get_closest_marker("after_notebook")
    name = marker.args[0] if marker else None
    kernel = request.config.stash[_FINISHED_KERNELS].pop(name, None)
    if kernel is None and name in request.config.stash[_HANDED_OVER]:
        pytest.fail(f"nbval's kernel of {name} is gone: the notebook failed or timed out above", pytrace=False)
    try:
        yield kernel
    finally:
        if kernel is not None:
            kernel.stop()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop any handed-over kernel whose test did not take it (e.g. skipped without a browser)."""
    for kernel in session.config.stash.get(_FINISHED_KERNELS, {}).values():
        kernel.stop()
