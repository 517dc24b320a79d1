"""aenb's modules form layers: each stands above what it uses, so a reader can follow any import
downwards without meeting the module they came from (issue: callbacks -> plotting -> training ->
callbacks was a circle, and models.vae imported training inside a function to dodge one)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "aenb"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The aenb modules ``path`` imports at run time: top-level and function-level imports, relative or
    absolute; ``if TYPE_CHECKING:`` blocks (type hints only, never executed) are left out."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _is_type_checking_block(node):
            return
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            # `from .models.common import x` depends on aenb.models.common and, through it, the package __init__
            while target and target not in modules:
                target = target.rpartition(".")[0]
            # Importing aenb.models.common from outside aenb.models runs aenb/models/__init__.py first.
            while target.startswith("aenb.") and not name.startswith(target + "."):
                if target != name:
                    found.add(target)
                target = target.rpartition(".")[0]
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


def _graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(p) for p in paths}
    return {_module_name(p): _imports(p, modules) for p in paths}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path of module names, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := walk(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := walk(node)):
            return found
    return None


def test_no_import_circle_among_aenb_modules() -> None:
    graph = _graph()
    assert "aenb.inference" in graph["aenb.plotting"] and "aenb.training" not in graph["aenb.plotting"]
    cycle = _cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_circle_finder_finds_a_circle() -> None:
    """The check above can fail: the old callbacks -> plotting -> training -> callbacks circle is found."""
    old = {"aenb.callbacks": {"aenb.plotting"}, "aenb.plotting": {"aenb.training"},
           "aenb.training": {"aenb.callbacks"}}
    assert _cycle(old) == ["aenb.callbacks", "aenb.plotting", "aenb.training", "aenb.callbacks"]


@pytest.mark.parametrize("module", ["aenb.inference", "aenb.training", "aenb.callbacks", "aenb.plotting",
                                    "aenb.metrics", "aenb.models.vae", "aenb.widgets.latent"])
def test_each_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
