"""The checking engine of the exercises: call a student's function and the reference on the same inputs.

``check(student, reference, cases)`` prints one line and returns True only on PASS:

    PASS  gram_matrix: 4 inputs agree with the reference (largest error 3.6e-15)
    FAIL  gram_matrix on input 1 of 4 (F [3, 7]): the result is off by up to 7.88 (allowed 9.2e-06) at [0, 2]: got 1.5, expected -6.38
    ERROR gram_matrix raised RuntimeError on input (F [3, 7]): mat1 and mat2 shapes cannot be multiplied (3x7 and 3x7) (line 3 in gram_matrix: return F @ F)
    gram_matrix: not implemented yet

"Not implemented yet" means only the exercise's own placeholder (a bare ``raise NotImplementedError``);
PyTorch's NotImplementedErrors (``&`` or ``^`` on float tensors) are ERRORs with their line. Every line
goes through ``i18n.tr``. The tasks and their inputs are in ``exercises``.
"""
import inspect
import os
import traceback

import torch

from .i18n import tr


def _describe(reference, args) -> str:
    """'F [5, 3], A [5, 5]' from the reference's parameter names and the argument shapes."""
    names = list(inspect.signature(reference).parameters)
    parts = []
    for name, value in zip(names, args):
        parts.append(f"{name} {list(value.shape)}" if isinstance(value, torch.Tensor) else f"{name}={value!r}")
    return ", ".join(parts)


def fresh(args, requires_grad=False):
    """Copies of the arguments, so a function that writes into its input cannot spoil the other call."""
    out = []
    for a in args:
        if isinstance(a, torch.Tensor):
            a = a.detach().clone()
            if requires_grad and a.is_floating_point():
                a.requires_grad_(True)
        out.append(a)
    return out


_LIBRARIES = (os.path.dirname(__file__), os.path.dirname(torch.__file__))
_SMALL = 16   # inputs with at most this many numbers are printed with a FAIL


def _student_line(error: Exception) -> str:
    """' (line 3 in gram_matrix: return F @ F)' for the deepest frame outside course_lib and torch."""
    if hasattr(error, "student_line"):    # an error the grader's sandboxed notebook reported (course_lib.grade)
        return str(error.student_line)
    frames = [f for f in traceback.extract_tb(error.__traceback__) if not f.filename.startswith(_LIBRARIES)]
    if not frames:
        return ""
    f = frames[-1]
    if not (f.line or "").strip():   # source not available (exec without a file)
        return tr(" (line {line} in {function})", line=f.lineno, function=f.name)
    return tr(" (line {line} in {function}: {code})", line=f.lineno, function=f.name, code=f.line.strip())


def _is_placeholder(error: Exception) -> bool:
    """The exercise's own ``raise NotImplementedError  # TODO``: no message, raised by the student's code.

    PyTorch's NotImplementedErrors (``"bitwise_and_cpu" not implemented for 'Float'``) always carry a message.
    """
    if hasattr(error, "placeholder"):     # reported by a sandboxed notebook (course_lib.grade)
        return bool(error.placeholder)
    frames = traceback.extract_tb(error.__traceback__)
    return (type(error) is NotImplementedError and not error.args
            and bool(frames) and not frames[-1].filename.startswith(_LIBRARIES))


def _hint(error: Exception) -> str:
    """A sentence for errors students often meet, '' for the others."""
    text = str(error)
    if "bitwise_xor" in text:
        return tr(" Hint: ^ is bitwise XOR in Python, not a power: write x ** 2.")
    if "bitwise_and" in text or "bitwise_or" in text or "bitwise_not" in text:
        return tr(" Hint: & | ~ work on bool or integer tensors; on float tensors multiply by a 0/1 mask "
                  "(g * passes) or compare first ((g > 0) & (passes > 0)).")
    if isinstance(error, NotImplementedError):
        return tr(" (This NotImplementedError comes from PyTorch, not from the exercise's placeholder.)")
    return ""


def _tensor_text(t: torch.Tensor) -> str:
    """[[0.5, -1.2], [3, 0]]: the values of a small tensor, 3 significant digits."""
    def fmt(v):
        return "[" + ", ".join(fmt(x) for x in v) + "]" if isinstance(v, list) else f"{v:.3g}"
    return fmt(t.detach().double().tolist())


def _inputs_text(reference, args) -> str:
    """'; inputs: g = [...], passes = [...]' when every tensor argument is small, else ''."""
    tensors = [(n, a) for n, a in zip(inspect.signature(reference).parameters, args) if isinstance(a, torch.Tensor)]
    if not tensors or any(a.numel() > _SMALL for _, a in tensors):
        return ""
    return tr("; inputs: {values}", values=", ".join(f"{n} = {_tensor_text(a)}" for n, a in tensors))


def compare(got, expected, what, atol, rtol):
    """None when ``got`` matches ``expected``, else a sentence saying how it differs."""
    if not isinstance(got, torch.Tensor):
        return _not_a_tensor(got, what)
    if got.shape != expected.shape:
        return tr("{what} has shape {got}, expected {expected}", what=what, got=list(got.shape),
                  expected=list(expected.shape))
    got, expected = got.detach().double(), expected.detach().double()
    if not torch.isfinite(got).all():
        return tr("{what} contains NaN or inf", what=what)
    error = (got - expected).abs().max().item() if got.numel() else 0.0
    allowed = atol + rtol * (expected.abs().max().item() if expected.numel() else 0.0)
    if error > allowed:
        if got.numel() == 1:
            where = tr("; got {got:.6g}, expected {expected:.6g}", got=got.item(), expected=expected.item())
        else:   # the first place where the error is largest
            index = [int(i) for i in torch.unravel_index((got - expected).abs().argmax(), got.shape)]
            where = tr(" at {index}: got {got:.6g}, expected {expected:.6g}", index=index,
                       got=got[tuple(index)].item(), expected=expected[tuple(index)].item())
        return tr("{what} is off by up to {error:.3g} (allowed {allowed:.2g})", what=what, error=error,
                  allowed=allowed) + where
    return None


def _not_a_tensor(got, what):
    """Why ``got`` is not the one tensor that was expected, named as precisely as possible."""
    if got is None:
        return tr("{what} is None, expected a torch tensor (did you forget `return`?)", what=what)
    if type(got).__module__ == "torch.return_types":        # torch.max(x, dim), torch.linalg.qr(...), ...
        fields = ", ".join(getattr(type(got), "__match_args__", ()))
        text = tr("{what} is the tuple ({fields}) that torch.{function} returns, expected one tensor: "
                  "take the part you need, e.g. .{first}", what=what, fields=fields, function=type(got).__name__.replace("linalg_", "linalg."),
                  first=fields.split(", ")[0])
        if type(got).__name__ in ("max", "min"):
            text += tr(". torch.max(x, dim) is the largest value along a dimension, with its indices; "
                       "for an element-wise maximum with 0 write x.clamp(min=0) or torch.maximum(x, torch.zeros_like(x))")
        return text
    if isinstance(got, (tuple, list)):
        return tr("{what} is a {kind} with {n} items, expected one tensor (two values returned, or a comma after "
                  "`return`?)", what=what, kind=type(got).__name__, n=len(got))
    return tr("{what} is a {kind}, expected a torch tensor (do not use .item() or numpy: keep a tensor)",
              what=what, kind=type(got).__name__)


def error_line(name, args_text, e):
    """The ERROR line for an exception ``e`` raised by the student's ``name`` on ``args_text``."""
    return tr("ERROR {name} raised {error} on input ({inputs}): {message}",
              name=name, error=type(e).__name__, inputs=args_text, message=e) + _student_line(e) + _hint(e)


def _call(student, args, name, args_text):
    """(result, None) or (None, the line to print) for one call of the student's function."""
    try:
        return student(*args), None
    except NotImplementedError as e:
        if _is_placeholder(e):
            return None, tr("{name}: not implemented yet", name=name)
        return None, error_line(name, args_text, e)
    except Exception as e:  # the student's bug, shown as one readable line
        return None, error_line(name, args_text, e)


def check(student, reference, cases, name=None, atol=1e-8, rtol=1e-6, gradient=False) -> bool:
    """Compare ``student(*args)`` with ``reference(*args)`` for every ``args`` in ``cases``; print the verdict.

    With ``gradient`` the output must be a scalar and its gradients w.r.t. the floating
    tensor arguments must also match (a loss has to be differentiable to be optimised).
    """
    name = name or getattr(reference, "__name__", "function")
    if not callable(student):
        print(tr("FAIL  {name}: expected a function, got {kind}", name=name, kind=type(student).__name__))
        return False
    largest = 0.0
    for i, args in enumerate(cases, 1):
        args_text = _describe(reference, args)
        ref_args, stu_args = fresh(args, gradient), fresh(args, gradient)
        expected = reference(*ref_args)
        got, message = _call(student, stu_args, name, args_text)
        if message:
            print(message)
            return False
        problem = compare(got, expected, tr("the result"), atol, rtol)
        if problem is None and gradient:
            try:
                problem = _compare_gradients(reference, ref_args, stu_args, got, expected, atol, rtol)
            except Exception as e:
                print(error_line(tr("{name}'s backward pass", name=name), args_text, e))
                return False
        if problem is not None:
            print(tr("FAIL  {name} on input {i} of {n} ({inputs}): {problem}", name=name, i=i, n=len(cases),
                     inputs=args_text, problem=problem) + _inputs_text(reference, args))
            return False
        largest = max(largest, (got.detach().double() - expected.detach().double()).abs().max().item())
    print(tr("PASS  {name}: {n} inputs agree with the reference (largest error {error:.2g})",
             name=name, n=len(cases), error=largest))
    return True


def _compare_gradients(reference, ref_args, stu_args, got, expected, atol, rtol):
    """None when the gradients of ``got`` w.r.t. every input match those of ``expected``."""
    if got.numel() != 1:
        return tr("the result should be a single number")
    if not got.requires_grad:
        return tr("the result does not depend on the input through autograd (no .item(), numpy or .detach())")
    expected.backward()
    got.backward()
    for name, r, s in zip(inspect.signature(reference).parameters, ref_args, stu_args):
        if isinstance(r, torch.Tensor) and r.grad is not None:
            problem = compare(s.grad if s.grad is not None else torch.zeros_like(s), r.grad,
                               tr("the gradient with respect to {name}", name=name), atol, rtol)
            if problem:
                return problem
    return None
