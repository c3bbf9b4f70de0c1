"""One notebook graded: its cells run in a sandbox slot, each task checked here against the reference.

The demo cells and the notebook's own check cells are skipped. The student's task functions are
called through ``grade_session.remote``; ``course_lib.exercises.check_<task>`` gives one point per
task, with hidden inputs drawn from the seed. A notebook that dies, hangs or answers nothing gets 0
for what it did not answer, with the reason.
"""
import contextlib
import hashlib
import io
import json
import os
import re
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import exercises, grade_report, grade_sandbox
from .grade_session import CheckTimeout, NotebookGone, Session, remote, stand_in
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


@dataclass
class Limits:
    cell_s: float = 60.0        # one cell or one check
    notebook_s: float = 300.0   # the whole notebook
    memory_mb: int = 2048       # address space the student's code may add
    output_kb: int = 64         # printed output kept per notebook
    notebook_mb: float = 50.0   # largest notebook file opened
    processes: int = 64         # processes and threads of one notebook (sandboxed only)
    file_mb: int = 16           # largest file a notebook may write


def task_seed(seed, task):
    """The hidden inputs' seed of one task (or one student): the same for every shard and every rerun."""
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


class ThreadStdout(io.TextIOBase):
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
            "the notebook file is {size:.1f} MB (limit {limit:g} MB): clear its outputs (Edit > Clear Outputs of All "
            "Cells) and submit it again", size=size_mb, limit=limits.notebook_mb))
    nb, error = _read_notebook(path)
    if error:
        return _not_graded(name, error)
    cells = [(i, c.source) for i, c in enumerate(nb.cells, 1) if c.cell_type == "code"
             and not c.source.lstrip().startswith(DEMO_GATES) and not CHECK_CELL.fullmatch(c.source)]
    result = _not_graded(name, None, slot.kind)
    session = Session(slot)
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
        return tr("ran longer than {seconds:g} s in all and was stopped (an endless loop that ignores interrupts?)",
                  seconds=limits.notebook_s)
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
    student = remote(session, task, deadline) if defined == "function" else stand_in(str(defined))
    problem = False
    with stdout.collect() as verdict:
        try:
            passed = getattr(exercises, f"check_{task}")(student, seed=task_seed(seed, task)) is True
            text = verdict.getvalue().strip()
        except CheckTimeout:
            passed, problem, text = False, True, tr(
                "{task}: the check ran longer than {seconds:g} s and was stopped (an endless loop?)",
                task=task, seconds=limits.cell_s)
        except Exception as e:    # the student's function broke the checker itself
            passed, problem, text = False, True, tr(
                "{task}: the check could not run your function ({error}: {message})", task=task,
                error=type(e).__name__, message=str(e)[:200])
    return {"points": int(passed), "problem": problem, "verdict": text}
