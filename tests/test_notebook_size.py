"""The stored notebooks stay light (issue #24): size budgets, no widget state that no output shows,
no lint comments in the code a reader reads.

These check the notebooks as committed, outputs included: a full-mode re-run that brings back
"retina" figures or a training loop's closed progress bars fails here.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from aenb.paths import ROOT

#: Bytes one stored notebook may weigh, and all of them together.
NOTEBOOK_BUDGET = 1_000_000
TOTAL_BUDGET = 3_000_000
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _prune_widget_state():
    """tools/prune_widget_state.py is a script, not part of the package: import it from its file."""
    spec = importlib.util.spec_from_file_location("prune_widget_state", ROOT / "tools" / "prune_widget_state.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_are_six_notebooks() -> None:
    assert [path.name[:2] for path in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_within_its_budget(path: Path) -> None:
    size = path.stat().st_size
    assert size <= NOTEBOOK_BUDGET, (f"{path.name} weighs {size / 1e6:.2f} MB, over {NOTEBOOK_BUDGET / 1e6:.0f} MB: "
                                     "figures stored at twice their dpi, or a scatter of too many points?")


def test_all_notebooks_within_the_budget() -> None:
    total = sum(path.stat().st_size for path in NOTEBOOKS)
    assert total <= TOTAL_BUDGET, f"the notebooks weigh {total / 1e6:.2f} MB together, over {TOTAL_BUDGET / 1e6:.0f} MB"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_no_widget_state_that_no_output_shows(path: Path) -> None:
    tool = _prune_widget_state()
    notebook = json.loads(path.read_text(encoding="utf-8"))
    state = notebook["metadata"].get("widgets", {}).get(tool.WIDGET_STATE, {}).get("state", {})
    unused = set(state) - tool.used_models(state, tool.shown_models(notebook))
    assert not unused, (f"{path.name} stores {len(unused)} widget models that no output shows: "
                        f"run python tools/prune_widget_state.py notebooks/{path.name}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_no_lint_comments_in_code_cells(path: Path) -> None:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    lines = [line for cell in notebook["cells"] if cell["cell_type"] == "code"
             for line in "".join(cell["source"]).splitlines() if "# noqa" in line]
    assert not lines, f"{path.name}: lint comments in reader-facing code: {lines}"


def test_pruning_keeps_what_an_output_shows_and_its_children() -> None:
    tool = _prune_widget_state()
    view = {"output_type": "display_data", "data": {tool.WIDGET_VIEW: {"model_id": "aa"}}, "metadata": {}}
    state = {"aa": {"state": {"children": ["IPY_MODEL_bb"]}}, "bb": {"state": {"layout": "IPY_MODEL_cc"}},
             "cc": {"state": {}}, "dd": {"state": {"layout": "IPY_MODEL_ee"}}, "ee": {"state": {}}}
    notebook = {"cells": [{"cell_type": "code", "outputs": [view]}],
                "metadata": {"widgets": {tool.WIDGET_STATE: {"state": state}}}}
    assert tool.prune(notebook) == 2  # the closed bar "dd" and its layout "ee"
    assert set(state) == {"aa", "bb", "cc"}
    notebook["cells"] = []
    assert tool.prune(notebook) == 3 and "widgets" not in notebook["metadata"]
