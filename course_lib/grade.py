"""Grade a class: ``python -m course_lib.grade SUBMISSIONS_DIR --out grades.csv``.

SUBMISSIONS_DIR holds one folder per student with any of the exercise notebooks under their
original names (``06_style_loss.ipynb``, in the folder or below it). Every notebook runs in a
fresh IPython shell in its own process, forked from a server that imported torch once, in a
temporary folder, with limits:

* time: ``--cell-seconds`` per cell and per check (the cell is interrupted, grading goes on) and
  ``--notebook-seconds`` for the whole process (then it is killed);
* memory: ``--memory-mb`` more address space than the process had after importing torch
  (``MemoryError`` in the student's cell; Linux and other systems with ``RLIMIT_AS``);
* no network: the worker's sockets refuse to connect;
* printed output: the first ``--output-kb`` are kept, the rest is counted and dropped;
* the file itself: notebooks over ``--max-notebook-mb`` are not opened.

The demo cells (``if recheck(...):``) are skipped. Then each task function the notebook defines
is checked by its ``course_lib.exercises.check_<name>`` with seeds the students never saw
(derived from ``--seed``, printed so that a run can be repeated), one point per task that passes.

Output: ``grades.csv`` (the student's folder name, points per exercise notebook, ``total``, and
``problems``: why a notebook could not be graded normally), and one feedback file per student in
``--feedback`` (default: ``<out>_feedback/``) with the checkers' verdicts on the hidden inputs.
A broken submission (not JSON, an endless loop, a deleted function, an error at import, a huge
output, a crash) gets its row and its reason; it never stops the run.

This is a grader for a class, not a sandbox: run submissions you do not trust in a container.
"""
import argparse
import contextlib
import csv
import hashlib
import io
import json
import multiprocessing
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .i18n import tr

# notebook -> the task functions it asks for; each is checked by exercises.check_<name>, 1 point
EXERCISES = {
    "01_hubel_wiesel.ipynb": ("tuning_curve", "orientation_selectivity_index"),
    "02_relu_rules.ipynb": ("deconvnet_rule", "guided_rule"),
    "03_conv_matrix.ipynb": ("conv_matrix", "transposed_conv"),
    "04_class_objective.ipynb": ("class_objective",),
    "05_content_loss.ipynb": ("content_layer_loss",),
    "06_style_loss.ipynb": ("gram_matrix", "style_layer_loss", "style_layer_grad"),
    "07_tv_loss.ipynb": ("tv_loss",),
}
DEMO_GATES = ("if recheck(", "if ok_")      # cells that only show pictures: not run while grading
CHECK_CELL = re.compile(r"\s*ok_\w+\s*=\s*check_\w+\(\w+\)\s*")  # the notebook's own checks: the grader runs its own
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Limits:
    cell_s: float = 60.0        # one cell or one check
    notebook_s: float = 300.0   # the whole worker process
    memory_mb: int = 2048       # address space the student's code may add
    output_kb: int = 64         # printed output kept per notebook
    notebook_mb: float = 50.0   # largest notebook file opened


# ---- the worker: one notebook, one process ----------------------------------------------------

class CellTimeout(BaseException):
    """Raised by SIGALRM in the running cell (a BaseException, so ``except Exception`` cannot swallow it)."""


class _Capped(io.TextIOBase):
    """A stdout that keeps the first ``limit`` characters and counts the rest."""

    def __init__(self, limit):
        self.limit, self.kept, self.total = limit, [], 0

    def write(self, text):
        room = self.limit - min(self.total, self.limit)
        if room > 0:
            self.kept.append(text[:room])
        self.total += len(text)
        return len(text)

    def writable(self):
        return True

    def getvalue(self):
        return "".join(self.kept)


def _no_network():
    import socket

    def refuse(*args, **kwargs):
        raise PermissionError(tr("network access is switched off while grading"))

    socket.socket.connect = socket.socket.connect_ex = refuse
    socket.create_connection = socket.getaddrinfo = refuse


def _limit_memory(extra_mb):
    """Allow ``extra_mb`` MB of address space beyond what the process uses now (torch reserves a lot)."""
    try:
        import resource
        with open("/proc/self/status") as status:
            vm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
        limit = vm_kb * 1024 + extra_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, OSError, StopIteration, ValueError):
        pass  # no /proc or no RLIMIT_AS (macOS, Windows): only the time limit applies


@contextlib.contextmanager
def _alarm(seconds):
    if not hasattr(signal, "SIGALRM"):      # Windows: only the limit on the whole notebook applies
        yield
        return

    def stop(signum, frame):
        raise CellTimeout

    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _first_line(source, width=50):
    line = next((l.strip() for l in source.splitlines() if l.strip()), "")
    return line if len(line) <= width else line[:width - 1] + "…"


def _read_notebook(path):
    """(notebook, None) or (None, the reason it cannot be read)."""
    import nbformat

    text = Path(path).read_text(encoding="utf-8", errors="replace")
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        return None, tr("not a valid notebook file (JSON error at line {line}, column {column}: {message})",
                        line=e.lineno, column=e.colno, message=e.msg)
    try:
        return nbformat.reads(text, as_version=4), None
    except Exception as e:
        return None, tr("not a valid notebook file ({message})", message=str(e).splitlines()[0][:200])


def _task_seed(seed, task):
    return int.from_bytes(hashlib.sha256(f"{seed}/{task}".encode()).digest()[:4], "big")


def run_worker(path, seed, limits: Limits) -> dict:
    """Execute one notebook and check its task functions; the result as a JSON-able dict."""
    from course_lib import dream, exercises, hooks, hubel_wiesel, style, transposed   # before the memory limit
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    name = Path(path).name
    result = {"notebook": name, "tasks": {}, "problems": [], "error": None}
    nb, error = _read_notebook(path)
    if error:
        result["error"] = error
        return result
    _no_network()
    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "nocolor"
    shell = InteractiveShell.instance(config=config)
    # a notebook that patches the checkers must not change its own grade
    modules = (exercises, dream, hooks, hubel_wiesel, style, transposed)
    saved = [dict(m.__dict__) for m in modules]
    out = _Capped(limits.output_kb * 1024)
    _limit_memory(limits.memory_mb)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        for i, cell in enumerate(nb.cells, 1):
            if (cell.cell_type != "code" or cell.source.lstrip().startswith(DEMO_GATES)
                    or CHECK_CELL.fullmatch(cell.source)):
                continue
            try:
                with _alarm(limits.cell_s):
                    run = shell.run_cell(cell.source, store_history=False)
                error = run.error_before_exec or run.error_in_exec
            except CellTimeout as e:   # between the shell's own try blocks
                error = e
            if isinstance(error, CellTimeout):
                result["problems"].append(tr("cell {i} ({code}) ran longer than {seconds} s and was stopped",
                                             i=i, code=_first_line(cell.source), seconds=f"{limits.cell_s:g}"))
            elif error is not None and str(error).strip():
                result["problems"].append(tr("cell {i} ({code}) raised {error}: {message}", i=i,
                                             code=_first_line(cell.source), error=type(error).__name__,
                                             message=str(error).strip().splitlines()[0][:200]))
            elif error is not None:
                result["problems"].append(tr("cell {i} ({code}) raised {error}", i=i, code=_first_line(cell.source),
                                             error=type(error).__name__))
    if out.total > out.limit:
        result["problems"].append(tr("the notebook printed {mb} MB; only the first {kb} kB were kept",
                                     mb=f"{out.total / 2**20:.1f}", kb=limits.output_kb))
    for m, d in zip(modules, saved):
        m.__dict__.clear()
        m.__dict__.update(d)
    for task in EXERCISES.get(name, ()):
        fn = shell.user_ns.get(task)
        if fn is None:
            result["tasks"][task] = {"points": 0, "problem": True, "verdict": tr(
                "{task}: not defined in the notebook (deleted, renamed, or its cell failed)", task=task)}
            continue
        verdict, problem = io.StringIO(), False
        try:
            with contextlib.redirect_stdout(verdict), _alarm(limits.cell_s):
                passed = getattr(exercises, f"check_{task}")(fn, seed=_task_seed(seed, task)) is True
            text = verdict.getvalue().strip()
        except CellTimeout:
            passed, problem, text = False, True, tr("{task}: the check ran longer than {seconds} s and was stopped (an endless loop?)",
                                     task=task, seconds=f"{limits.cell_s:g}")
        except BaseException as e:  # MemoryError, or the student's function broke the checker itself
            passed, problem, text = False, True, tr("{task}: the check could not run your function ({error}: {message})", task=task,
                                     error=type(e).__name__, message=str(e)[:200])
        result["tasks"][task] = {"points": int(passed), "problem": problem, "verdict": text}
    return result


PRELOAD = ["torch", "nbformat", "IPython.core.interactiveshell", "matplotlib.pyplot", "course_lib.exercises"]
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2", "MPLBACKEND": "Agg",
              "COURSE_LIB_QUICK": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def _context():
    """Workers fork from a server that has imported torch and course_lib once (a fresh process in
    milliseconds, not seconds); where there is no fork (Windows) each worker starts from scratch."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    saved = {k: os.environ.get(k) for k in WORKER_ENV}
    os.environ.update(WORKER_ENV)          # the server, and so every worker, starts with these
    try:
        from multiprocessing import forkserver
        forkserver.ensure_running()
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    return context


def _worker(notebook, result_path, seed, limits):
    """The worker process: its own folder, its output in a file, then ``run_worker``."""
    folder = Path(notebook).parent
    if hasattr(os, "setsid"):
        os.setsid()                         # its own process group: killed with whatever it started
    os.chdir(folder)
    os.environ.update(WORKER_ENV, IPYTHONDIR=str(folder / ".ipython"))
    log = os.open(folder / "stderr.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(log, 1)
    os.dup2(log, 2)
    try:
        import resource
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)    # a huge C-level output: write errors, not death
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 2**20, 16 * 2**20))
    except (ImportError, AttributeError, ValueError, OSError):
        pass
    result = run_worker(notebook, seed, limits)
    Path(result_path).write_text(json.dumps(result), encoding="utf-8")
    sys.stdout.flush()
    os._exit(0)   # skip the teardown of whatever the notebook left behind


# ---- the parent: many notebooks, many students -------------------------------------------------

def grade_notebook(path: Path, seed: int, limits: Limits, context=None) -> dict:
    """Run one notebook in a worker process under the limits; never raises for a bad submission."""
    name = path.name
    size_mb = path.stat().st_size / 2**20
    if size_mb > limits.notebook_mb:
        return {"notebook": name, "tasks": {}, "problems": [], "error": tr(
            "the notebook file is {size} MB (limit {limit} MB): clear its outputs (Edit > Clear Outputs of All "
            "Cells) and submit it again", size=f"{size_mb:.1f}", limit=f"{limits.notebook_mb:g}")}
    context = context or _context()
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        work, result_path = Path(tmp) / name, Path(tmp) / "result.json"
        shutil.copyfile(path, work)
        process = context.Process(target=_worker, args=(str(work), str(result_path), seed, limits), daemon=True)
        process.start()
        process.join(limits.notebook_s)
        if process.is_alive():
            _kill(process)
            return {"notebook": name, "tasks": {}, "problems": [], "error": tr(
                "ran longer than {seconds} s in all and was stopped (an endless loop that ignores interrupts?)",
                seconds=f"{limits.notebook_s:g}")}
        code = process.exitcode
        if code == 0 and result_path.exists():
            return json.loads(result_path.read_text(encoding="utf-8"))
        log = Path(tmp) / "stderr.txt"
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] if log.exists() else []
        how = tr("signal {n}", n=-code) if code < 0 else tr("exit code {n}", n=code)
        return {"notebook": name, "tasks": {}, "problems": [], "error": tr(
            "the notebook's process ended unexpectedly ({how}){detail}", how=how,
            detail=f": {tail[0][:200]}" if tail else "")}


def _kill(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        process.kill()
    process.join()


def find_notebooks(folder: Path) -> dict:
    """{exercise notebook name: its path} in one student's folder (the shallowest copy of each name)."""
    found = {}
    for name in EXERCISES:
        paths = [p for p in folder.rglob(name) if ".ipynb_checkpoints" not in p.parts and p.is_file()]
        if paths:
            found[name] = min(paths, key=lambda p: (len(p.parts), str(p)))
    return found


def points(result) -> int:
    return sum(t["points"] for t in result["tasks"].values())


def feedback_text(student, results) -> str:
    """The per-student feedback file: points, the checkers' verdicts on the hidden inputs, problems."""
    total = sum(points(r) for r in results.values())
    lines = [tr("Feedback for {student}: {total} of {max} points", student=student, total=total,
                max=sum(len(t) for t in EXERCISES.values())),
             tr("The checks used inputs you have not seen; a function that passes in your notebook but fails here "
                "depends on the particular inputs there."), ""]
    for name, tasks in EXERCISES.items():
        result = results.get(name)
        if result is None:
            lines.append(tr("{notebook}: not submitted (0 of {max})", notebook=name, max=len(tasks)))
            continue
        lines.append(tr("{notebook}: {points} of {max} points", notebook=name, points=points(result), max=len(tasks)))
        if result["error"]:
            lines.append("  " + tr("not graded: {reason}", reason=result["error"]))
        for task in tasks:
            if task in result["tasks"]:
                lines += ["  " + line for line in result["tasks"][task]["verdict"].splitlines()]
        lines += ["  " + tr("note: {problem}", problem=p) for p in result["problems"]]
    return "\n".join(lines) + "\n"


def problems_text(results) -> str:
    """The CSV's ``problems`` cell: why notebooks could not be graded normally."""
    parts = []
    for name, result in results.items():
        stem = Path(name).stem
        if result["error"]:
            parts.append(f"{stem}: {result['error']}")
        parts += [f"{stem}: {p}" for p in result["problems"]]
        parts += [f"{stem}: {t['verdict']}" for t in result["tasks"].values() if t["problem"]]
    return "; ".join(parts)


def grade(submissions: Path, out: Path, feedback: Path = None, seed: int = None, limits: Limits = None,
          jobs: int = None, log=print) -> list:
    """Grade every student folder of ``submissions``; write the CSV and the feedback files; returns the rows."""
    submissions, out = Path(submissions), Path(out)
    if not submissions.is_dir():
        raise FileNotFoundError(tr("{path} is not a folder of student folders", path=submissions))
    limits = limits or Limits()
    seed = secrets.randbelow(10**9) if seed is None else seed
    feedback = Path(feedback) if feedback else out.with_name(out.stem + "_feedback")
    jobs = jobs or max(1, min(4, (os.cpu_count() or 2) - 1))
    students = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    work = [(s, name, path) for s in students for name, path in find_notebooks(s).items()]
    start = time.perf_counter()
    context = _context()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {(s.name, name): pool.submit(grade_notebook, path, _task_seed(seed, s.name), limits, context)
                   for s, name, path in work}
        results = {s.name: {} for s in students}
        for (student, name), future in futures.items():
            results[student][name] = future.result()
    seconds = time.perf_counter() - start
    feedback.mkdir(parents=True, exist_ok=True)
    rows = []
    for student in (s.name for s in students):
        r = results[student]
        row = {"student": student}
        row.update({Path(n).stem: points(r[n]) if n in r else 0 for n in EXERCISES})
        row["total"] = sum(points(x) for x in r.values())
        row["problems"] = problems_text(r) if r else tr("no exercise notebooks found (expected names: {names})",
                                                         names=", ".join(EXERCISES))
        rows.append(row)
        (feedback / f"{student}.txt").write_text(feedback_text(student, r), encoding="utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["student"] + [Path(n).stem for n in EXERCISES] + ["total", "problems"])
        writer.writeheader()
        writer.writerows(rows)
    log(tr("graded {students} students, {notebooks} notebooks in {seconds} s ({per} s per student, {jobs} workers); "
           "wrote {out} and {feedback}/", students=len(students), notebooks=len(work), seconds=f"{seconds:.1f}",
           per=f"{seconds / max(1, len(students)):.1f}", jobs=jobs, out=out, feedback=feedback))
    log(tr("hidden seed {seed}: pass --seed {seed} to grade with the same inputs again", seed=seed))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.grade", description=__doc__.splitlines()[0])
    parser.add_argument("submissions", type=Path, help="one folder per student")
    parser.add_argument("--out", type=Path, default=Path("grades.csv"))
    parser.add_argument("--feedback", type=Path, help="folder for <student>.txt (default: <out>_feedback/)")
    parser.add_argument("--seed", type=int, help="the hidden seed (default: a new random one, printed)")
    parser.add_argument("--jobs", type=int, help="notebooks graded at once (default: CPUs - 1, at most 4)")
    defaults = Limits()
    parser.add_argument("--cell-seconds", type=float, default=defaults.cell_s)
    parser.add_argument("--notebook-seconds", type=float, default=defaults.notebook_s)
    parser.add_argument("--memory-mb", type=int, default=defaults.memory_mb)
    parser.add_argument("--output-kb", type=int, default=defaults.output_kb)
    parser.add_argument("--max-notebook-mb", type=float, default=defaults.notebook_mb)
    args = parser.parse_args(argv)
    limits = Limits(cell_s=args.cell_seconds, notebook_s=args.notebook_seconds, memory_mb=args.memory_mb,
                    output_kb=args.output_kb, notebook_mb=args.max_notebook_mb)
    try:
        grade(args.submissions, args.out, args.feedback, args.seed, limits, args.jobs)
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
