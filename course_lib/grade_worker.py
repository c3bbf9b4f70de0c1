"""Inside the sandbox: run one notebook's cells, then answer the grader's calls of its task functions.

This is the only grading code that shares a process with the student's code, so it decides
nothing: it runs the cells (a time limit per cell, printed output capped), says which task names
are defined, and for each ``call`` message runs the student's function on the inputs the grader
sent and sends back what it returned (and the input gradients of a scalar result). The grader
compares the answers with the reference; a student who rewrites this module only changes the
answers it sends, never the verdict.
"""
import builtins
import contextlib
import io
import os
import signal

import torch

from . import checker, dream, exercises, exercises_attribution, grade_wire, hooks, hubel_wiesel, style, transposed
from .i18n import tr


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


@contextlib.contextmanager
def _alarm(seconds):
    def stop(signum, frame):
        raise CellTimeout

    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _first_line(source, width=50):
    line = next((l.strip() for l in source.splitlines() if l.strip()), "")
    return line if len(line) <= width else line[:width - 1] + "…"


def _cell_problem(i, source, error, seconds):
    code = _first_line(source)
    if isinstance(error, CellTimeout):
        return tr("cell {i} ({code}) ran longer than {seconds:g} s and was stopped", i=i, code=code, seconds=seconds)
    message = str(error).strip()
    if message:
        return tr("cell {i} ({code}) raised {error}: {message}", i=i, code=code, error=type(error).__name__,
                  message=message.splitlines()[0][:200])
    return tr("cell {i} ({code}) raised {error}", i=i, code=code, error=type(error).__name__)


def run_cells(cells, cell_s, output_kb):
    """Run (cell number, source) pairs in a fresh IPython shell; (its namespace, problems)."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "nocolor"
    shell = InteractiveShell.instance(config=config)
    modules = (exercises, exercises_attribution, dream, hooks, hubel_wiesel, style, transposed, builtins)
    saved = [dict(m.__dict__) for m in modules]
    problems, out, me = [], _Capped(output_kb * 1024), os.getpid()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        for i, source in cells:
            try:
                with _alarm(cell_s):
                    run = shell.run_cell(source, store_history=False)
                error = run.error_before_exec or run.error_in_exec
            except CellTimeout as e:     # between the shell's own try blocks
                error = e
            if os.getpid() != me:        # a process the cell forked came back here: it has no say
                os._exit(0)
            if error is not None:
                problems.append(_cell_problem(i, source, error, cell_s))
    if out.total > out.limit:
        problems.append(tr("the notebook printed {mb:.1f} MB; only the first {kb} kB were kept",
                           mb=out.total / 2**20, kb=output_kb))
    for m, d in zip(modules, saved):    # the student's own calls of the references see the originals
        for name in [n for n in m.__dict__ if n not in d]:
            del m.__dict__[name]
        for name, value in d.items():
            if m.__dict__.get(name) is not value:
                m.__dict__[name] = value
    return shell.user_ns, problems


def _builtin_base(error):
    return next((c.__name__ for c in type(error).__mro__ if c.__module__ == "builtins"), "Exception")


def _raised(error, backward=False):
    timed_out = isinstance(error, CellTimeout)
    return {"op": "timeout" if timed_out else "raised", "type": type(error).__name__[:80],
            "base": _builtin_base(error), "message": str(error)[:500], "backward": backward,
            "line": checker._student_line(error)[:300] if isinstance(error, Exception) else "",
            "placeholder": isinstance(error, NotImplementedError) and checker._is_placeholder(error)}


def _argument(value):
    if isinstance(value, dict) and value.get("kind") == "neuron":
        neuron = object.__new__(exercises._Neuron)
        neuron.weight, neuron.c = value["weight"], value["c"]
        return neuron
    if isinstance(value, dict) and value.get("kind") == "smooth_function":
        F = object.__new__(exercises_attribution._SmoothFunction)
        F.shape, F.W, F.b, F.w = torch.Size(value["shape"]), value["W"], value["b"], value["w"]
        return F
    if isinstance(value, dict) and value.get("kind") == "tuple":
        return tuple(_argument(v) for v in value["items"])
    return value


def describe(value) -> dict:
    """What the student's function returned, as the grader needs to judge it."""
    if isinstance(value, torch.Tensor):
        return {"kind": "tensor", "value": value.detach(), "requires_grad": bool(value.requires_grad)}
    if value is None:
        return {"kind": "none"}
    if type(value).__module__ == "torch.return_types":
        return {"kind": "return_types", "type": type(value).__name__,
                "fields": list(getattr(type(value), "__match_args__", ()))}
    if isinstance(value, (tuple, list)):
        return {"kind": "sequence", "type": type(value).__name__, "n": len(value)}
    return {"kind": "other", "type": type(value).__name__}


def answer_call(fn, message):
    """Call the student's function on the grader's inputs; the reply message."""
    args = [_argument(a) for a in message["args"]]
    result = None
    try:
        with _alarm(message["seconds"]):
            result = fn(*args)
            reply = {"op": "returned", "value": describe(result), "grads": None}
            if (isinstance(result, torch.Tensor) and result.requires_grad and result.numel() == 1
                    and any(isinstance(a, torch.Tensor) and a.requires_grad for a in args)):
                try:
                    result.backward()
                    reply["grads"] = [a.grad if isinstance(a, torch.Tensor) else None for a in args]
                except Exception as e:
                    reply["backward_error"] = _raised(e, backward=True)
    except BaseException as e:           # the student's error, a timeout, a SystemExit: all just answers
        reply = _raised(e)
    return reply


def serve(channel, first):
    """The worker's life: the notebook message, then calls until ``done``."""
    limits = first["limits"]
    namespace, problems = run_cells(first["cells"], limits["cell_s"], limits["output_kb"])
    tasks = {}
    for task in first["tasks"]:
        if task in namespace:
            tasks[task] = "function" if callable(namespace[task]) else type(namespace[task]).__name__[:80]
    grade_wire.send(channel, {"op": "ran", "problems": problems[:50], "tasks": tasks})
    while True:
        message = grade_wire.receive(channel, deadline=float("inf"))
        if message["op"] != "call":
            return
        reply = answer_call(namespace[message["task"]], message)
        try:
            grade_wire.send(channel, reply)
        except grade_wire.WireError as e:     # an answer too large or of a kind that cannot travel
            grade_wire.send(channel, {"op": "unsendable", "message": str(e)[:200]})


def _limit_memory(extra_mb):
    """Allow ``extra_mb`` MB of address space beyond what the process uses now (torch reserves a lot)."""
    import resource
    try:
        with open("/proc/self/status") as status:
            vm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    except (OSError, StopIteration, ValueError):
        return                   # no /proc (macOS): only the time limits apply
    limit = vm_kb * 1024 + extra_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main(channel_fd, kind, drop_privileges):
    """PID 1 of the notebook's namespaces, set up and not yet running student code.

    ``drop_privileges`` is ``grade_zygote.drop_privileges``, passed in: the sandbox imports this module, not the reverse.
    """
    import resource
    import socket

    channel = socket.socket(fileno=channel_fd)
    grade_wire.send(channel, {"op": "hello", "isolation": kind})
    first = grade_wire.receive(channel, deadline=float("inf"))
    limits = first["limits"]
    if kind != "none":
        drop_privileges(limits["processes"])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)    # a file over the limit: a write error, not death
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_mb"] * 2**20,) * 2)
    _limit_memory(limits["memory_mb"])
    serve(channel, first)
