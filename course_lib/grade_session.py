"""Talking to one sandboxed notebook: the socket to it, and its answers rebuilt for the checkers.

The grader never runs student code. A task function becomes ``remote(session, task, deadline)``:
each call sends the arguments over ``grade_wire`` and waits for what the student's function
returned. The checkers of ``course_lib.exercises`` then see a plain value: a tensor (whose
``backward`` hands out the input gradients computed in the sandbox, so eq. (2)-style gradient
checks work), ``None``, a sequence, or a stand-in named like what was returned. An exception the
student's code raised comes back with its class name, message and line, as the checkers print it.
"""
import builtins
import os
import socket
import time

import torch

from . import exercises, exercises_attribution, grade_wire
from .i18n import tr

GRACE_S = 3.0          # how long past a time limit the grader waits before it kills the notebook


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


class Session:
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


# ---- one call of the student's function, its answer as the checkers see it ------------------------

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


def stand_in(kind, **attributes):
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
        return stand_in(value.get("type"))
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


def remote(session, task, deadline):
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
