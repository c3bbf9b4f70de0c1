"""Grade a class: ``python -m course_lib.grade SUBMISSIONS_DIR --out grades.csv``.

SUBMISSIONS_DIR holds one folder per student with any of the exercise notebooks under their
original names (``06_style_loss.ipynb``, in the folder or below it). Each notebook runs in a
sandbox (``grade_sandbox``: its own user, PID, mount and network namespaces, only the system,
Python and ``course_lib`` visible, read-only; no network, loopback included) with limits on time
(``--cell-seconds`` per cell and per check, ``--notebook-seconds`` in all), memory
(``--memory-mb`` beyond torch's own), processes, file size and printed output (``--output-kb``).
Notebooks over ``--max-notebook-mb`` are not opened. The demo cells and the notebook's own check
cells are skipped.

The verdict is computed here, in a process that never runs student code. The grader draws hidden
inputs (seeds from ``--seed`` and the student's folder name), sends them to the sandbox, gets back
only what the student's task functions returned (``grade_wire``: tensors and plain values, size
capped, no pickle) and compares that with the reference through ``course_lib.exercises.check_*``,
one point per task. A notebook that dies, hangs or answers nothing gets 0 for what it did not
answer, with the reason in ``problems``.

Output, written by this process alone after every sandbox has exited, atomically: ``grades.csv``
(folder name, points per exercise notebook, ``total``, ``problems``; formula-like cells made
text) and ``<out>_feedback/<student>.txt`` with the checkers' verdicts. ``--shard K/N`` grades
one part of the class; ``--merge`` joins the parts and refuses overlaps and gaps. Where no
sandbox can be made the grader refuses, unless ``--trust-submissions`` says every submission is
trusted.
"""
import argparse
import hashlib
import json
import os
import queue
import re
import secrets
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import grade_report, grade_sandbox
from .grade_checks import EXERCISES, Limits, ThreadStdout, grade_notebook, task_seed
from .i18n import tr

UNSAFE_NAME = re.compile(r"^[=+\-@.]|[\x00-\x1f\x7f]")        # a formula in a spreadsheet, hidden, control characters


def isolation_text(kind) -> str:
    """How the notebooks were kept apart, for the log and every feedback file."""
    if kind == "bwrap":
        return tr("bubblewrap + namespaces per notebook (no network, only its own notebook visible, read-only system)")
    if kind == "unshare":
        return tr("user namespaces via unshare + namespaces per notebook (no network, only its own notebook "
                  "visible, read-only system)")
    return tr("none: --trust-submissions (the notebooks ran with the grader's rights)")


# ---- the class ------------------------------------------------------------------------------------

def find_notebooks(folder: Path) -> dict:
    """{exercise notebook name: its path} in one student's folder (the shallowest copy of each name)."""
    found = {}
    for name in EXERCISES:
        paths = [p for p in folder.rglob(name) if ".ipynb_checkpoints" not in p.parts and p.is_file()
                 and not p.is_symlink()]
        if paths:
            found[name] = min(paths, key=lambda p: (len(p.parts), str(p)))
    return found


def _parse_shard(text):
    match = re.fullmatch(r"(\d+)/(\d+)", text or "")
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise ValueError(tr("--shard takes K/N with 1 <= K <= N, e.g. 2/8; got {value!r}", value=text))
    return int(match[1]), int(match[2])


def grade(submissions: Path, out: Path, feedback: Path = None, seed: int = None, limits: Limits = None,
          jobs: int = None, log=print, trusted: bool = False, shard: str = None) -> list:
    """Grade every student folder of ``submissions``; write the CSV and the feedback files; returns the rows."""
    submissions, out = Path(submissions), Path(out)
    if not submissions.is_dir():
        raise FileNotFoundError(tr("{path} is not a folder of student folders", path=submissions))
    limits = limits or Limits()
    part = _parse_shard(shard) if shard else None
    if part and seed is None:
        raise ValueError(tr("--shard needs --seed: every shard must grade with the same hidden inputs"))
    seed = secrets.randbelow(10**9) if seed is None else seed
    feedback = Path(feedback) if feedback else out.with_name(out.stem + "_feedback")
    jobs = jobs or max(1, min(4, (os.cpu_count() or 2) - 1))
    kind = grade_sandbox.choose(trusted)
    everyone = sorted(p.name for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    students = [s for s in everyone if not part or grade_report.shard_of(s, part[1]) == part[0]]
    unsafe = {s for s in students if UNSAFE_NAME.search(s) or len(s) > 100}
    work = [(s, name, path) for s in students if s not in unsafe
            for name, path in find_notebooks(submissions / s).items()]
    log(tr("isolation: {isolation}", isolation=isolation_text(kind)))
    start = time.perf_counter()
    results = {s: {} for s in students}
    stdout, sys.stdout = sys.stdout, ThreadStdout(sys.stdout)
    slots = queue.Queue()
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for slot in pool.map(lambda _: grade_sandbox.Slot(kind), range(min(jobs, len(work)))):
                slots.put(slot)

            def one(student, name, path):
                slot = slots.get()
                try:
                    return grade_notebook(path, task_seed(seed, student), limits, slot, sys.stdout)
                finally:
                    slots.put(slot)
            futures = {(s, name): pool.submit(one, s, name, path) for s, name, path in work}
            for (student, name), future in futures.items():
                results[student][name] = future.result()
    finally:
        sys.stdout = stdout
        while not slots.empty():
            slots.get().close()
    seconds = time.perf_counter() - start
    rows = []
    for student in students:       # every sandbox has exited: only now is anything written
        r = results[student]
        row = {"student": student}
        row.update({Path(n).stem: grade_report.points(r[n]) if n in r else 0 for n in EXERCISES})
        row["total"] = sum(grade_report.points(x) for x in r.values())
        if student in unsafe:
            row["problems"] = tr("not graded: the folder name {name!r} could be read as a spreadsheet formula or "
                                 "hides control characters; rename the folder and grade again", name=student)
        else:
            row["problems"] = grade_report.problems_text(r) if r else tr(
                "no exercise notebooks found (expected names: {names})", names=", ".join(EXERCISES))
            grade_report.write_atomically(feedback / f"{student}.txt",
                                          grade_report.feedback_text(student, r, EXERCISES, isolation_text(kind)))
        rows.append(row)
    columns = ["student"] + [Path(n).stem for n in EXERCISES] + ["total", "problems"]
    grade_report.write_atomically(out, grade_report.csv_text(rows, columns))
    if part:
        grade_report.write_atomically(grade_report.manifest_path(out), json.dumps({
            "shard": part[0], "count": part[1], "seed": seed, "students": students, "all_students": everyone,
            "students_sha256": hashlib.sha256("\n".join(everyone).encode()).hexdigest()}, indent=1))
    log(tr("graded {students} students, {notebooks} notebooks in {seconds:.1f} s ({per:.1f} s per student, {jobs} workers); "
           "wrote {out} and {feedback}/", students=len(students), notebooks=len(work), seconds=seconds,
           per=seconds / max(1, len(students)), jobs=jobs, out=out, feedback=feedback))
    log(tr("hidden seed {seed}: pass --seed {seed} to grade with the same inputs again", seed=seed))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.grade", description=__doc__.splitlines()[0])
    parser.add_argument("submissions", type=Path, nargs="?", help="one folder per student")
    parser.add_argument("--out", type=Path, default=Path("grades.csv"))
    parser.add_argument("--feedback", type=Path, help="folder for <student>.txt (default: <out>_feedback/)")
    parser.add_argument("--seed", type=int, help="the hidden seed (default: a new random one, printed)")
    parser.add_argument("--jobs", type=int, help="notebooks graded at once (default: CPUs - 1, at most 4)")
    parser.add_argument("--shard", help="grade only part K of N of the students (K/N; needs --seed)")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="SHARD_CSV",
                        help="join the CSVs of shards 1..N into --out (refuses overlaps and gaps)")
    parser.add_argument("--trust-submissions", action="store_true",
                        help="grade without a sandbox where none can be made (only for submissions you trust)")
    defaults = Limits()
    parser.add_argument("--cell-seconds", type=float, default=defaults.cell_s)
    parser.add_argument("--notebook-seconds", type=float, default=defaults.notebook_s)
    parser.add_argument("--memory-mb", type=int, default=defaults.memory_mb)
    parser.add_argument("--output-kb", type=int, default=defaults.output_kb)
    parser.add_argument("--max-notebook-mb", type=float, default=defaults.notebook_mb)
    parser.add_argument("--max-processes", type=int, default=defaults.processes)
    args = parser.parse_args(argv)
    limits = Limits(cell_s=args.cell_seconds, notebook_s=args.notebook_seconds, memory_mb=args.memory_mb,
                    output_kb=args.output_kb, notebook_mb=args.max_notebook_mb, processes=args.max_processes)
    try:
        if args.merge:
            grade_report.merge(args.merge, args.out)
        elif args.submissions is None:
            parser.error(tr("give SUBMISSIONS_DIR, or --merge with the shards' CSVs"))
        else:
            grade(args.submissions, args.out, args.feedback, args.seed, limits, args.jobs,
                  trusted=args.trust_submissions, shard=args.shard)
    except (FileNotFoundError, ValueError, grade_sandbox.SandboxUnavailable) as e:
        print(e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
