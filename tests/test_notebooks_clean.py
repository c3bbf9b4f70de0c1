"""Notebooks are committed clean and thin: no outputs, and logic lives in course_lib."""
import ast
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ALL = sorted(p for p in NOTEBOOKS.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)  # committed ones only
LECTURE = sorted(NOTEBOOKS.glob("*.ipynb"))


def code_cells(path):
    return [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]


def test_there_are_numbered_lecture_notebooks():
    assert LECTURE, "no notebooks found"
    for path in LECTURE:
        assert re.fullmatch(r"\d\d[a-z]?_[a-z0-9_]+\.ipynb", path.name), path.name   # 05b: a companion to 05


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(NOTEBOOKS)))
def test_committed_without_outputs(path):
    for cell in code_cells(path):
        assert cell.get("outputs") == [], f"{path.name}: a cell has stored outputs"
        assert cell.get("execution_count") is None, f"{path.name}: a cell has an execution count"


@pytest.mark.parametrize("path", LECTURE, ids=lambda p: p.name)
def test_lecture_notebooks_call_the_library_instead_of_defining_logic(path):
    source = "\n".join("".join(c["source"]) for c in code_cells(path))
    assert "course_lib" in source
    python = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    tree = ast.parse(python)
    defined = [n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    long = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and len(n.body) > 6]
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)], f"{path.name} defines classes"
    assert not long, f"{path.name}: functions {[n.name for n in long]} belong in course_lib (callbacks stay short)"
