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
import builtins
import contextlib
import hashlib
import io
import json
import os
import queue
import re
import secrets
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from . import exercises, exercises_attribution, grade_report, grade_sandbox, grade_wire
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
    "08_grad_cam_and_ig.ipynb": ("grad_cam_weights", "grad_cam_map", "integrated_gradients"),
}
DEMO_GATES = ("if recheck(", "if ok_")      # cells that only show pictures: not run while grading
CHECK_CELL = re.compile(r"\s*ok_\w+\s*=\s*check_\w+\(\w+\)\s*")  # the notebook's own checks: the grader runs its own
UNSAFE_NAME = re.compile(r"^[=+\-@.]|[\x00-\x1f\x7f]")        # a formula in a spreadsheet, hidden, control characters
GRACE_S = 3.0          # how long past a time limit the grader waits before it kills the notebook


def isolation_text(kind) -> str:
    """How the notebooks were kept apart, for the log and every feedback file."""
    if kind == "bwrap":
        return tr("bubblewrap + namespaces per notebook (no network, only its own notebook visible, read-only system)")
    if kind == "unshare":
        return tr("user namespaces via unshare + namespaces per notebook (no network, only its own notebook "
                  "visible, read-only system)")
    return tr("none: --trust-submissions (the notebooks ran with the grader's rights)")


@dataclass
class Limits:
    cell_s: float = 60.0        # one cell or one check
    notebook_s: float = 300.0   # the whole notebook
    memory_mb: int = 2048       # address space the student's code may add
    output_kb: int = 64         # printed output kept per notebook
    notebook_mb: float = 50.0   # largest notebook file opened
    processes: int = 64         # processes and threads of one notebook (sandboxed only)
    file_mb: int = 16           # largest file a notebook may write


def _task_seed(seed, task):
    return int.from_bytes(hashlib.sha256(f"{seed}/{task}".encode()).digest()[:4], "big")


def _read_notebook(path):
    """(notebook, None) or (None, the reason it cannot be read); parsing is not running."""
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


# ---- talking to one sandboxed notebook ----------------------------------------------------------

class NotebookGone(BaseException):
    """The notebook died, hung past its limit or sent something that is not an answer."""


class CheckTimeout(BaseException):
    """The student's function ran past the check's time limit (a BaseException: the checkers do not catch it)."""


class _Drain:
    """Reads the notebook's stderr (C-level output, tracebacks) while the grader waits; keeps the tail."""

    def __init__(self, session):
        self.session, self.fds = session, [session.err_read]

    def __call__(self, ready):
        for fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                self.fds = []
            self.session.stderr_tail = (self.session.stderr_tail + chunk)[-4096:]


class _Session:
    """One notebook in a slot: the socket to it, and the tail of what it printed at C level."""

    def __init__(self, slot):
        self.slot, self.stderr_tail, self.broken = slot, b"", None
        self.channel, theirs = socket.socketpair()
        self.err_read, err_write = os.pipe()
        try:
            slot.start(theirs, err_write)
        finally:
            theirs.close()
            os.close(err_write)
        self._drain = _Drain(self)

    def ask(self, message, deadline):
        if self.broken:
            raise NotebookGone(self.broken)
        try:
            if message is not None:
                grade_wire.send(self.channel, message)
            return grade_wire.receive(self.channel, deadline, self._drain)
        except grade_wire.WireTimeout:
            self.broken = "timeout"
        except (grade_wire.WireError, OSError) as e:
            self.broken = "gone: " + str(e)
        raise NotebookGone(self.broken)

    def close(self) -> int:
        status = self.slot.end()
        self.channel.close()
        os.close(self.err_read)
        return status


def _wire_argument(value):
    if isinstance(value, exercises._Neuron):
        return {"kind": "neuron", "weight": value.weight, "c": value.c}
    if isinstance(value, exercises_attribution._SmoothFunction):
        return {"kind": "smooth_function", "shape": list(value.shape), "W": value.W, "b": value.b, "w": value.w}
    if isinstance(value, tuple):
        return {"kind": "tuple", "items": [_wire_argument(v) for v in value]}
    return value


def _rebuilt_error(info):
    """The student's exception, as the checkers print it: same class name, message and line."""
    base = getattr(builtins, str(info.get("base")), Exception)
    if not (isinstance(base, type) and issubclass(base, Exception)):
        base = Exception
    name = str(info.get("type", ""))
    name = name if name.isidentifier() else base.__name__
    message = str(info.get("message", ""))[:500]
    try:
        error = type(name, (base,), {"__str__": lambda self: message, "__module__": "builtins"})()
    except TypeError:              # a base whose constructor needs arguments (UnicodeDecodeError)
        error = type(name, (Exception,), {"__str__": lambda self: message, "__module__": "builtins"})()
    error.student_line = str(info.get("line", ""))[:300]
    error.placeholder = info.get("placeholder") is True
    return error


class _Answer(torch.autograd.Function):
    """The student's scalar result; its backward hands out the input gradients the sandbox computed."""

    @staticmethod
    def forward(ctx, value, gradients, *inputs):
        ctx.gradients = gradients
        return value.clone()

    @staticmethod
    def backward(ctx, grad_output):
        if isinstance(ctx.gradients, Exception):
            raise ctx.gradients
        return (None, None, *[None if g is None else g * grad_output for g in ctx.gradients])


def _stand_in(kind, **attributes):
    """An object whose type is named like what the student returned (for the checkers' messages)."""
    name = kind if isinstance(kind, str) and kind.isidentifier() else "object"
    return type(name, (), attributes)()


def _answer(reply, args):
    """What the checker should see as the student's return value."""
    value = reply.get("value")
    if not isinstance(value, dict):
        raise NotebookGone("malformed answer")
    kind = value.get("kind")
    if kind == "none":
        return None
    if kind == "sequence":
        n = value.get("n") if isinstance(value.get("n"), int) else 0
        return (list if value.get("type") == "list" else tuple)([None] * max(0, min(n, 1000)))
    if kind == "return_types":
        fields = tuple(str(f) for f in value.get("fields", [])[:10] if isinstance(f, str))
        name = str(value.get("type")) if str(value.get("type")).isidentifier() else "result"
        return type(name, (tuple,), {"__module__": "torch.return_types", "__match_args__": fields})()
    if kind != "tensor" or not isinstance(value.get("value"), torch.Tensor):
        return _stand_in(value.get("type"))
    tensor = value["value"]
    inputs = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]
    if not (value.get("requires_grad") is True and inputs and tensor.is_floating_point()):
        return tensor
    gradients = reply.get("grads")
    if isinstance(reply.get("backward_error"), dict):
        gradients = _rebuilt_error(reply["backward_error"])
    elif isinstance(gradients, list) and len(gradients) == len(args):
        gradients = [g for a, g in zip(args, gradients) if isinstance(a, torch.Tensor) and a.requires_grad]
        if any(g is not None and (not isinstance(g, torch.Tensor) or g.shape != a.shape)
               for a, g in zip(inputs, gradients)):
            gradients = _rebuilt_error({"type": "RuntimeError", "base": "RuntimeError",
                                        "message": tr("a gradient has the wrong shape")})
        else:
            gradients = [None if g is None else g.to(a.dtype) for a, g in zip(inputs, gradients)]
    else:
        gradients = [None] * len(inputs)
    return _Answer.apply(tensor, gradients, *inputs)


def _remote(session, task, deadline):
    """A stand-in for the student's function: each call is a question to the sandbox."""
    def call(*args):
        try:
            reply = session.ask({"op": "call", "task": task, "args": [_wire_argument(a) for a in args],
                                 "seconds": max(0.01, deadline - time.monotonic())}, deadline + GRACE_S)
        except NotebookGone:
            if session.broken == "timeout":      # it ignored the interrupt: this check's limit, then no more
                session.broken = "check timeout"
                raise CheckTimeout from None
            raise
        if reply["op"] == "timeout":
            raise CheckTimeout
        if reply["op"] == "raised":
            raise _rebuilt_error(reply)
        if reply["op"] == "unsendable":
            raise _rebuilt_error({"type": "ValueError", "base": "ValueError", "message": tr(
                "the result cannot be sent back for grading ({reason})", reason=str(reply.get("message"))[:200])})
        if reply["op"] != "returned":
            raise NotebookGone("unexpected reply")
        return _answer(reply, args)
    call.__name__ = task
    return call


class _ThreadStdout(io.TextIOBase):
    """sys.stdout while grading: a thread that checks a notebook collects the checker's verdict for itself."""

    def __init__(self, default):
        self.default, self.local = default, threading.local()

    def write(self, text):
        return (getattr(self.local, "buffer", None) or self.default).write(text)

    def writable(self):
        return True

    def flush(self):
        self.default.flush()

    @contextlib.contextmanager
    def collect(self):
        self.local.buffer = io.StringIO()
        try:
            yield self.local.buffer
        finally:
            self.local.buffer = None


def _not_graded(name, reason, isolation="-"):
    return {"notebook": name, "tasks": {}, "problems": [], "error": reason, "isolation": isolation}


def grade_notebook(path: Path, seed: int, limits: Limits, slot, stdout) -> dict:
    """Run one notebook in ``slot``'s sandbox and check its answers here; never raises for a bad submission."""
    name = path.name
    size_mb = path.stat().st_size / 2**20
    if size_mb > limits.notebook_mb:
        return _not_graded(name, tr(
            "the notebook file is {size} MB (limit {limit} MB): clear its outputs (Edit > Clear Outputs of All "
            "Cells) and submit it again", size=f"{size_mb:.1f}", limit=f"{limits.notebook_mb:g}"))
    nb, error = _read_notebook(path)
    if error:
        return _not_graded(name, error)
    cells = [(i, c.source) for i, c in enumerate(nb.cells, 1) if c.cell_type == "code"
             and not c.source.lstrip().startswith(DEMO_GATES) and not CHECK_CELL.fullmatch(c.source)]
    result = _not_graded(name, None, slot.kind)
    session = _Session(slot)
    end = time.monotonic() + limits.notebook_s
    try:
        try:
            hello = session.ask(None, time.monotonic() + 120)
        except NotebookGone:
            raise grade_sandbox.SandboxUnavailable(tr("the sandbox could not start a notebook: {error}",
                                                      error=session.stderr_tail.decode(errors="replace")[-300:]))
        if hello != {"op": "hello", "isolation": slot.kind}:
            raise grade_sandbox.SandboxUnavailable(tr("the sandbox could not start a notebook: {error}", error=hello))
        ran = session.ask({"op": "notebook", "cells": cells, "tasks": list(EXERCISES.get(name, ())),
                           "limits": asdict(limits)}, end)
        if ran["op"] != "ran" or not isinstance(ran.get("tasks"), dict) or not isinstance(ran.get("problems"), list):
            raise NotebookGone("unexpected reply")
        result["problems"] = [grade_report.one_line(p)[:300] for p in ran["problems"][:50]]
        for task in EXERCISES.get(name, ()):
            result["tasks"][task] = _check_task(session, task, ran["tasks"].get(task), seed, limits, end, stdout)
    except NotebookGone:
        pass
    finally:
        status = session.close()
    if session.broken:
        result["error"] = _why_gone(session, status, limits)
        for task in EXERCISES.get(name, ()):
            result["tasks"].setdefault(task, {"points": 0, "problem": False, "verdict": tr(
                "{task}: not checked (the notebook stopped before it)", task=task)})
    return result


def _why_gone(session, status, limits):
    if session.broken == "timeout":
        return tr("ran longer than {seconds} s in all and was stopped (an endless loop that ignores interrupts?)",
                  seconds=f"{limits.notebook_s:g}")
    if session.broken == "check timeout":
        return tr("a check ran past its limit and the notebook ignored the interrupt, so it was stopped")
    tail = session.stderr_tail.decode(errors="replace").strip().splitlines()[-1:]
    if os.WIFSIGNALED(status):
        how = tr("signal {n}", n=os.WTERMSIG(status))
    else:
        how = tr("exit code {n}", n=os.WEXITSTATUS(status) if os.WIFEXITED(status) else status)
    return tr("the notebook's process ended unexpectedly ({how}){detail}", how=how,
              detail=f": {tail[0][:200]}" if tail else "")


def _check_task(session, task, defined, seed, limits, end, stdout):
    if defined is None:
        return {"points": 0, "problem": True, "verdict": tr(
            "{task}: not defined in the notebook (deleted, renamed, or its cell failed)", task=task)}
    deadline = min(time.monotonic() + limits.cell_s, end)
    student = _remote(session, task, deadline) if defined == "function" else _stand_in(str(defined))
    problem = False
    with stdout.collect() as verdict:
        try:
            passed = getattr(exercises, f"check_{task}")(student, seed=_task_seed(seed, task)) is True
            text = verdict.getvalue().strip()
        except CheckTimeout:
            passed, problem, text = False, True, tr(
                "{task}: the check ran longer than {seconds} s and was stopped (an endless loop?)",
                task=task, seconds=f"{limits.cell_s:g}")
        except Exception as e:    # the student's function broke the checker itself
            passed, problem, text = False, True, tr(
                "{task}: the check could not run your function ({error}: {message})", task=task,
                error=type(e).__name__, message=str(e)[:200])
    return {"points": int(passed), "problem": problem, "verdict": text}


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
    stdout, sys.stdout = sys.stdout, _ThreadStdout(sys.stdout)
    slots = queue.Queue()
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for slot in pool.map(lambda _: grade_sandbox.Slot(kind), range(min(jobs, len(work)))):
                slots.put(slot)

            def one(student, name, path):
                slot = slots.get()
                try:
                    return grade_notebook(path, _task_seed(seed, student), limits, slot, sys.stdout)
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
    log(tr("graded {students} students, {notebooks} notebooks in {seconds} s ({per} s per student, {jobs} workers); "
           "wrote {out} and {feedback}/", students=len(students), notebooks=len(work), seconds=f"{seconds:.1f}",
           per=f"{seconds / max(1, len(students)):.1f}", jobs=jobs, out=out, feedback=feedback))
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
