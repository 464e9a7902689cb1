"""docs/architecture.md names real modules and functions, hop by hop: each `path.py::name` must still exist there."""

import ast
import re
from pathlib import Path

import pytest

from tests.support.logs import ROOT

TOUR = ROOT / "docs" / "architecture.md"
REFERENCE = re.compile(r"`((?:apps|workers|config)/[\w/]+\.py)(?:::([\w.]+))?`")


def references() -> list[tuple[str, str | None]]:
    return sorted(set(REFERENCE.findall(TOUR.read_text())), key=lambda ref: (ref[0], ref[1] or ""))


def defined_names(path: Path) -> set[str]:
    """Top-level functions, classes and assignments, and `Class.method` for methods."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            names.update(f"{node.name}.{item.name}" for item in node.body if isinstance(item, ast.FunctionDef))
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(target.id for target in targets if isinstance(target, ast.Name))
    return names


def test_the_tour_names_the_hops_of_the_write_path():
    assert len(references()) >= 20


@pytest.mark.parametrize("path, name", references(), ids=lambda value: value or "")
def test_every_module_and_name_in_the_tour_exists(path, name):
    module = ROOT / path
    assert module.is_file(), f"{path} is named in docs/architecture.md but does not exist"
    if name:
        assert name in defined_names(module), f"{path} has no {name} (docs/architecture.md)"
