"""The student release (tools/make_release.py): no solution anywhere, and the exercises still run
and check there, with the release's own course_lib."""
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tools import make_release

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "notebooks" / "exercises" / "solutions"
TODO = "raise NotImplementedError  # TODO: your code here"


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "nn-art-students"
    written = make_release.make_release(out)
    return out, written


def solution_blocks(path):
    """{cell id: [the lines between BEGIN and END SOLUTION]} of a solution notebook."""
    blocks = {}
    for cell in nbformat.read(path, as_version=4).cells:
        lines, inside = [], False
        for line in cell.source.splitlines():
            if line.strip() == "# END SOLUTION":
                inside = False
            if inside:
                lines.append(line)
            if line.strip() == "# BEGIN SOLUTION":
                inside = True
        if lines:
            blocks[cell.id] = lines
    return blocks


def test_no_solution_folder_text_or_cell(release):
    out, written = release
    assert make_release.check_release(out) == []
    assert not any("solutions" in Path(p).parts for p in written)
    assert not (out / "tools" / "make_exercises.py").exists() and not (out / "tools" / "make_release.py").exists()
    assert not (out / "notebooks" / "exercises" / "solutions").exists()
    for path in out.rglob("*"):
        if path.is_file():
            assert "BEGIN SOLUTION" not in path.read_bytes().decode("utf-8", "ignore"), path
    for test in (out / "tests").glob("*.py"):
        assert "solutions" not in test.read_text(encoding="utf-8"), test
    assert (out / "course_lib" / "exercises.py").exists() and (out / "course_lib" / "grade.py").exists()


def test_no_solution_code_in_the_exercise_notebooks(release):
    out, _ = release
    for solution in sorted(SOLUTIONS.glob("*.ipynb")):
        student = (out / "notebooks" / "exercises" / solution.name).read_text(encoding="utf-8")
        for lines in solution_blocks(solution).values():
            for line in lines:
                if len(line.strip()) >= 12:   # a real line of the answer, not `return x`
                    assert json.dumps(line)[1:-1] not in student, (solution.name, line)
        nb = nbformat.reads(student, as_version=4)
        assert sum(c.source.count(TODO) for c in nb.cells if c.cell_type == "code") == sum(1 for _ in solution_blocks(solution))
        assert not any("solutions/" in c.source for c in nb.cells if c.cell_type == "markdown")


def test_lecturer_only_text_is_gone_and_the_rest_stays(release):
    out, _ = release
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "lecturer-only" not in readme and "make_release" not in readme and "**Students:**" in readme
    assert "## Quick mode" in readme and readme.count("\n") > 50
    original = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "<!-- lecturer-only -->" in original and "make_release.py" in original


def _filled(release_notebook, solution):
    """The release's notebook with each TODO replaced by the lecturer's answer (as a student would)."""
    nb = nbformat.read(release_notebook, as_version=4)
    blocks = solution_blocks(solution)
    for cell in nb.cells:
        if cell.cell_type == "code" and TODO in cell.source:
            indent = cell.source.split(TODO)[0].split("\n")[-1]
            cell.source = cell.source.replace(indent + TODO, "\n".join(blocks[cell.id]))
    return nb


RUNNER = """
import contextlib, io, json, sys
import nbformat, course_lib
print("course_lib from", course_lib.__file__)
for path in sys.argv[1:]:
    namespace = {}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code":
            exec(compile(cell.source, path, "exec"), namespace)
"""


def test_exercises_run_and_check_in_the_release(release, tmp_path):
    out, _ = release
    paths = []
    for name in ["06_style_loss.ipynb", "07_tv_loss.ipynb"]:   # no network model needed for their demos
        nbformat.write(_filled(out / "notebooks" / "exercises" / name, SOLUTIONS / name), tmp_path / f"filled_{name}")
        paths += [str(tmp_path / f"filled_{name}"), str(out / "notebooks" / "exercises" / name)]
    env = dict(os.environ, PYTHONPATH=str(out), COURSE_LIB_QUICK="1", MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-c", RUNNER, *paths], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    text = run.stdout
    assert f"course_lib from {out}" in text
    verdicts = [line for line in text.splitlines() if line.startswith(("PASS", "FAIL", "ERROR"))]
    assert len(verdicts) == 4 and all(v.startswith("PASS") for v in verdicts), text   # gram, loss, grad, tv
    assert "largest difference between eq. (2) and autograd" in text and "TV =" in text   # the demos ran
    assert text.count("not implemented yet") == 4, text   # the untouched notebooks: 3 + 1 tasks


def test_refuses_to_overwrite_or_to_write_inside_the_course(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("keep me")
    with pytest.raises(make_release.ReleaseError, match="not empty"):
        make_release.make_release(tmp_path / "full")
    assert (tmp_path / "full" / "x.txt").exists()
    with pytest.raises(make_release.ReleaseError, match="inside the course"):
        make_release.make_release(ROOT / "build" / "release")
    assert make_release.main([str(tmp_path / "full")]) == 1
