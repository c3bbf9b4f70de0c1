"""Make the student exercise notebooks from the solution notebooks, so the two cannot drift.

The source is ``notebooks/exercises/solutions/NN_name.ipynb`` (edit only these). The student
version ``notebooks/exercises/NN_name.ipynb`` is the same notebook, except:

* in a code cell tagged ``solution``, every block from a ``# BEGIN SOLUTION`` line to an
  ``# END SOLUTION`` line becomes ``raise NotImplementedError  # TODO: your code here``
  (at the indentation of the BEGIN line);
* a cell tagged ``solution-only`` (e.g. the final ``assert`` that every check passed) is left out;
* outputs and execution counts are dropped.

Usage (from the repository root):
    python tools/make_exercises.py           # (re)write the student notebooks
    python tools/make_exercises.py --check   # exit 1 if a committed student notebook is out of date
"""
import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

EXERCISES = Path(__file__).resolve().parents[1] / "notebooks" / "exercises"
SOLUTIONS = EXERCISES / "solutions"
BEGIN, END = re.compile(r"^(\s*)# BEGIN SOLUTION\s*$"), re.compile(r"^\s*# END SOLUTION\s*$")
TODO = "raise NotImplementedError  # TODO: your code here"


class ExerciseSourceError(ValueError):
    """A solution notebook is malformed (unbalanced markers, markers in an untagged cell)."""


def strip_solution(source: str, where: str) -> str:
    """Replace every BEGIN/END SOLUTION block of one cell's source by the TODO line."""
    out, inside = [], False
    for line in source.splitlines():
        begin = BEGIN.match(line)
        if begin and not inside:
            out.append(begin.group(1) + TODO)
            inside = True
        elif END.match(line) and inside:
            inside = False
        elif begin or END.match(line):
            raise ExerciseSourceError(f"{where}: unbalanced '# BEGIN SOLUTION' / '# END SOLUTION'")
        elif not inside:
            out.append(line)
    if inside:
        raise ExerciseSourceError(f"{where}: '# BEGIN SOLUTION' without '# END SOLUTION'")
    return "\n".join(out)


def student_version(solution: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The student notebook made from one solution notebook (the solution is not changed)."""
    student = copy.deepcopy(solution)
    cells = []
    for i, cell in enumerate(student.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        where = f"{name}, cell {i}"
        has_markers = any(BEGIN.match(line) or END.match(line) for line in cell.source.splitlines())
        if "solution-only" in tags:
            continue
        if cell.cell_type == "code":
            if "solution" in tags:
                if not has_markers:
                    raise ExerciseSourceError(f"{where}: tagged 'solution' but has no '# BEGIN SOLUTION' block")
                cell.source = strip_solution(cell.source, where)
            elif has_markers:
                raise ExerciseSourceError(f"{where}: has solution markers but is not tagged 'solution'")
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    student.cells = cells
    return student


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def expected_student_notebooks(solutions_dir: Path = SOLUTIONS) -> dict:
    """{student notebook path: its text} for every solution notebook."""
    out = {}
    for path in sorted(solutions_dir.glob("*.ipynb")):
        solution = nbformat.read(path, as_version=4)
        out[solutions_dir.parent / path.name] = render(student_version(solution, path.name))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the student notebooks are up to date")
    args = parser.parse_args(argv)
    expected = expected_student_notebooks()
    if not expected:
        print(f"no solution notebooks in {SOLUTIONS}", file=sys.stderr)
        return 1
    stale = [path for path, text in expected.items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    extra = sorted(set(EXERCISES.glob("*.ipynb")) - set(expected))
    if args.check:
        for path in stale:
            print(f"out of date: {path.relative_to(EXERCISES.parents[1])}", file=sys.stderr)
        for path in extra:
            print(f"no solution notebook for: {path.relative_to(EXERCISES.parents[1])}", file=sys.stderr)
        if stale or extra:
            print("run: python tools/make_exercises.py", file=sys.stderr)
            return 1
        print(f"{len(expected)} student notebooks are up to date")
        return 0
    for path in stale:
        path.write_text(expected[path], encoding="utf-8")
        print(f"wrote {path.relative_to(EXERCISES.parents[1])}")
    print(f"{len(expected)} student notebooks, {len(stale)} rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
