"""The two README commands, the dependency lists, and CI wiring agree with each other."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_deps() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def _environment_deps() -> list[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    deps = []
    for line in lines[start + 1 :]:
        match = re.match(r"^\s+- (.+)$", line)
        if not match:
            break
        if match.group(1) != "-e .":
            deps.append(match.group(1).strip())
    return deps


def test_environment_yml_names_the_same_dependencies_as_pyproject() -> None:
    assert sorted(_environment_deps()) == sorted(_pyproject_deps())


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```(?:bash|sh)?\n(.*?)```", readme, re.S)
    assert first_block, "README must open with a code block"
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines() if line.split("#")[0].strip()]
    assert commands == ["make lab", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lab: setup$", makefile, re.M) and re.search(r"^test: setup$", makefile, re.M)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
