"""Write the student release: a copy of the course without the worked solutions.

    python tools/make_release.py OUT_DIR [--force]

OUT_DIR is what a Binder link or a student repository should point at. It gets every file of
this checkout that git tracks (or would track), except:

* every ``solutions/`` folder under ``notebooks/`` (the lecturer's source of the exercises);
* ``tools/make_exercises.py`` and ``tools/make_release.py`` (lecturer tools that read them);
* test files that read the solutions (their text mentions ``solutions``), so ``./run.sh test``
  still passes in the release;

and with two edits: in Markdown files and notebook Markdown cells, blocks between
``<!-- lecturer-only -->`` and ``<!-- /lecturer-only -->`` are removed, and so are Markdown lines
of the exercise notebooks that point at ``solutions/``. The result is checked before the script
ends: no solution folder, no solution marker text, no cell tagged ``solution`` or ``solution-only``.

The student notebooks themselves are the committed ones (``make_exercises.py --check`` keeps
them in step with the solutions). The library (``course_lib``) stays whole: the lecture notebooks
need it and the checkers compare against it, so a graded course grades with hidden inputs
(``python -m course_lib.grade``) rather than by keeping the library secret.
"""
import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
LECTURER_TOOLS = {"tools/make_exercises.py", "tools/make_release.py"}
LECTURER_BLOCK = re.compile(r"[ \t]*<!-- lecturer-only -->.*?<!-- /lecturer-only -->[ \t]*\n?", re.S)
MARKER = "BEGIN " + "SOLUTION"          # spelt in two parts so this file's own text does not match
SKIP_DIRS = {".git", ".venv", "build", "__pycache__", ".ipynb_checkpoints", ".pytest_cache", "test-artifacts"}


class ReleaseError(RuntimeError):
    """The release would contain a solution, or cannot be written where asked."""


def course_files(root: Path = ROOT) -> list:
    """Paths (relative) of the files of the course: git's list where there is git, else a walk."""
    try:
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=root,
                                capture_output=True, check=True).stdout.decode().split("\0")
        return sorted(p for p in listed if p and (root / p).is_file())
    except (OSError, subprocess.CalledProcessError):
        return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                      if p.is_file() and not SKIP_DIRS & set(p.relative_to(root).parts))


def left_out(path: str, root: Path = ROOT) -> bool:
    parts = Path(path).parts
    if parts[0] == "notebooks" and "solutions" in parts[:-1]:
        return True
    if path in LECTURER_TOOLS:
        return True
    if parts[0] == "tests" and path.endswith(".py"):
        return "solutions" in (root / path).read_text(encoding="utf-8", errors="replace")
    return False


def _student_markdown(text: str, exercise: bool) -> str:
    text = LECTURER_BLOCK.sub("", text)
    if exercise:
        text = "\n".join(line for line in text.split("\n") if "solutions/" not in line)
    return text


def release_notebook(nb: nbformat.NotebookNode, exercise: bool) -> nbformat.NotebookNode:
    """Lecturer-only Markdown out; the task cells lose their ``solution`` tag (their code is already the TODO)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _student_markdown(cell.source, exercise).rstrip("\n")
        tags = cell.get("metadata", {}).get("tags")
        if tags is not None:
            cell.metadata["tags"] = [t for t in tags if t not in ("solution", "solution-only")]
            if not cell.metadata["tags"]:
                del cell.metadata["tags"]
    return nb


def make_release(out: Path, root: Path = ROOT, force: bool = False) -> list:
    """Write the release to ``out``; returns the relative paths written."""
    out = Path(out).resolve()
    if out == root or root in out.parents:
        raise ReleaseError(f"{out} is inside the course ({root}); choose a folder outside it")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise ReleaseError(f"{out} is not empty; pass --force to replace it")
        shutil.rmtree(out)
    written = []
    for path in course_files(root):
        if left_out(path, root):
            continue
        source, target = root / path, out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        exercise = Path(path).parts[:2] == ("notebooks", "exercises")
        if path.endswith(".ipynb"):
            nb = release_notebook(nbformat.read(source, as_version=4), exercise)
            target.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
        elif path.endswith(".md"):
            target.write_text(_student_markdown(source.read_text(encoding="utf-8"), exercise), encoding="utf-8")
        else:
            shutil.copy2(source, target)
        written.append(path)
    problems = check_release(out)
    if problems:
        raise ReleaseError("the release still contains solutions:\n  " + "\n  ".join(problems))
    return written


def check_release(out: Path) -> list:
    """What in ``out`` gives a solution away (empty when nothing does)."""
    problems = []
    for path in sorted(Path(out).rglob("*")):
        rel = path.relative_to(out)
        if path.is_dir():
            if path.name == "solutions":
                problems.append(f"{rel}/: a solutions folder")
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        if MARKER in text:
            problems.append(f"{rel}: contains '{MARKER}'")
        if path.suffix == ".ipynb":
            for i, cell in enumerate(nbformat.reads(text, as_version=4).cells):
                tags = set(cell.get("metadata", {}).get("tags", [])) & {"solution", "solution-only"}
                if tags:
                    problems.append(f"{rel}: cell {i} is tagged {', '.join(sorted(tags))}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder to write (outside this checkout)")
    parser.add_argument("--force", action="store_true", help="replace OUT if it is not empty")
    args = parser.parse_args(argv)
    try:
        written = make_release(args.out, force=args.force)
    except ReleaseError as e:
        print(f"make_release: {e}", file=sys.stderr)
        return 1
    print(f"wrote the student release to {args.out}: {len(written)} files, no solutions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
