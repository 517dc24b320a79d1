"""Remove from stored notebooks the widget state that no output shows.

    python tools/prune_widget_state.py notebooks/*.ipynb

Executing a notebook with widgets (``jupyter nbconvert --execute``, nbclient) stores in
``metadata.widgets`` the state of every widget the kernel ever created, closed ones included:
each finished tqdm bar of a training loop leaves half a dozen models behind, up to 160 KB per
notebook. A model is kept only if an output's widget view shows it, directly or as a child
(``"IPY_MODEL_<id>"`` in a shown model's state); ``metadata.widgets`` goes when nothing is left.
Executing with ``--ExecutePreprocessor.store_widget_state=False`` stores no state to begin with.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import nbformat

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
MODEL_REFERENCE = re.compile(r"IPY_MODEL_([0-9a-f]+)")


def shown_models(notebook: Any) -> set[str]:
    """The model ids of the notebook's widget-view outputs: the widgets a reader sees."""
    return {output["data"][WIDGET_VIEW]["model_id"]
            for cell in notebook["cells"] for output in cell.get("outputs", [])
            if WIDGET_VIEW in output.get("data", {})}


def used_models(state: dict[str, Any], shown: set[str]) -> set[str]:
    """``shown`` and every model of ``state`` they refer to, however indirectly (children, layouts, styles)."""
    used, todo = set(), [model_id for model_id in shown if model_id in state]
    while todo:
        model_id = todo.pop()
        if model_id not in used:
            used.add(model_id)
            todo += [ref for ref in MODEL_REFERENCE.findall(json.dumps(state[model_id])) if ref in state]
    return used


def prune(notebook: Any) -> int:
    """Drop the unused widget models from ``notebook`` (in place); returns how many were dropped."""
    widgets = notebook["metadata"].get("widgets", {})
    state = widgets.get(WIDGET_STATE, {}).get("state", {})
    used = used_models(state, shown_models(notebook))
    unused = [model_id for model_id in state if model_id not in used]
    for model_id in unused:
        del state[model_id]
    if not state:
        notebook["metadata"].pop("widgets", None)
    return len(unused)


def main(paths: list[str]) -> None:
    """Prune each notebook file in place, keeping nbformat's layout (and the file untouched if nothing goes)."""
    for path in map(Path, paths):
        notebook = nbformat.read(path, as_version=4)
        before, had_widgets = path.stat().st_size, "widgets" in notebook.metadata
        dropped = prune(notebook)
        if dropped or had_widgets != ("widgets" in notebook.metadata):
            path.write_text(nbformat.writes(notebook) + "\n", encoding="utf-8")
        after = path.stat().st_size
        print(f"{path}: dropped {dropped} unused widget models, {before / 1e3:.0f} -> {after / 1e3:.0f} KB")


if __name__ == "__main__":
    main(sys.argv[1:])
