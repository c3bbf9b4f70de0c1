"""The seven stumbles of issue 14, each with the exact student input that was reported wrongly before:
PyTorch's own NotImplementedError, tuples from torch.max, where a FAIL differs, errors inside the
checker's helper, demos fed by a function redefined after its PASS, the 05 prose, the ERROR line."""
import ast
import contextlib
import io
import math
from pathlib import Path

import matplotlib
import nbformat
import pytest
import torch

from course_lib import exercises, i18n
from course_lib.hubel_wiesel import oriented_grating

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "notebooks" / "exercises"


def run(checker, fn, **kwargs):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ok = checker(fn, **kwargs)
    return ok, out.getvalue()


# 1. only the exercise's own placeholder means "not implemented yet"

def test_pytorch_not_implemented_error_is_an_error_with_its_line():
    def guided_rule(g, passes):
        return g * ((g > 0) & passes)

    ok, text = run(exercises.check_guided_rule, guided_rule)
    assert ok is False and "not implemented yet" not in text, text
    assert text.startswith("ERROR guided_rule raised NotImplementedError on input (g [6], passes [6])"), text
    assert "\"bitwise_and_cpu\" not implemented" in text and "return g * ((g > 0) & passes)" in text
    assert "multiply" in text  # the hint


def test_caret_on_floats_is_an_error_with_a_power_hint():
    def content_layer_loss(F, C):
        return 0.5 * ((F - C) ^ 2).sum()

    ok, text = run(exercises.check_content_layer_loss, content_layer_loss)
    assert ok is False and text.startswith("ERROR content_layer_loss raised NotImplementedError"), text
    assert "bitwise_xor" in text and "x ** 2" in text and "not implemented yet" not in text


@pytest.mark.parametrize("placeholder", ["raise NotImplementedError  # TODO: your code here",
                                         "raise NotImplementedError()"])
def test_the_placeholder_still_means_not_implemented(placeholder):
    namespace = {}
    exec(f"def tv_loss(x):\n    {placeholder}\n", namespace)
    ok, text = run(exercises.check_tv_loss, namespace["tv_loss"])
    assert ok is False and text == "tv_loss: not implemented yet\n"


def test_a_not_implemented_error_with_a_message_is_an_error():
    def tv_loss(x):
        raise NotImplementedError("I will do it later")

    _, text = run(exercises.check_tv_loss, tv_loss)
    assert text.startswith("ERROR tv_loss raised NotImplementedError") and "I will do it later" in text


# 2. a tuple is named as a tuple

def test_torch_max_with_a_dimension_is_named_as_values_and_indices():
    def deconvnet_rule(g, passes):
        return torch.max(g, 0)

    ok, text = run(exercises.check_deconvnet_rule, deconvnet_rule)
    assert ok is False and text.startswith("FAIL  deconvnet_rule on input 1 of 3"), text
    assert "tuple (values, indices) that torch.max returns" in text and "clamp(min=0)" in text
    assert ".item()" not in text


def test_qr_and_plain_tuples_are_named():
    _, text = run(exercises.check_gram_matrix, lambda F: torch.linalg.qr(F @ F.T))
    assert "tuple (Q, R) that torch.linalg.qr returns" in text and ".Q" in text, text
    _, text = run(exercises.check_gram_matrix, lambda F: (F @ F.T, F))
    assert "is a tuple with 2 items, expected one tensor" in text, text


# 3. a FAIL says where, with the values there, and the inputs when they are small

def test_fail_names_the_index_and_the_values_and_small_inputs():
    ok, text = run(exercises.check_deconvnet_rule, lambda g, passes: g.abs())
    assert ok is False, text
    g = torch.randn(6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)  # the checker's input 1
    got, expected = g.abs(), g.clamp(min=0)
    i = int((got - expected).abs().argmax())
    assert f"at [{i}]: got {got[i].item():.6g}, expected {expected[i].item():.6g}" in text, text
    assert f"inputs: g = [{g[0].item():.3g}, {g[1].item():.3g}," in text and "passes = [" in text


def test_fail_on_a_large_input_names_the_index_but_not_the_inputs():
    ok, text = run(exercises.check_gram_matrix, lambda F: F @ F.T / F.shape[1])
    F = torch.randn(3, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    error = (F @ F.T / 7 - F @ F.T).abs()
    i, j = [int(k) for k in torch.unravel_index(error.argmax(), error.shape)]
    assert f"at [{i}, {j}]: got {(F @ F.T / 7)[i, j].item():.6g}, expected {(F @ F.T)[i, j].item():.6g}" in text, text
    assert "inputs:" not in text


# 4. an error inside the checker's helper says what the helper expects

def test_neuron_called_on_one_image_says_it_wants_a_batch():
    def tuning_curve(neuron, angles_deg, size, frequency, n_phases=4):
        R = []
        for theta in angles_deg:
            responses = [neuron(oriented_grating(size, float(theta), frequency, 2 * math.pi * k / n_phases))
                         for k in range(n_phases)]
            R.append(max(responses))
        return torch.stack(R)

    ok, text = run(exercises.check_tuning_curve, tuning_curve)
    assert ok is False and text.startswith("ERROR tuning_curve raised ValueError"), text
    assert "neuron takes a batch of stimuli [N, 3, S, S]" in text and "got shape [3, 15, 15]" in text
    assert "x[None]" in text and "responses = [neuron(" in text
    assert "IndexError" not in text


def test_neuron_given_a_list_says_stack():
    def tuning_curve(neuron, angles_deg, size, frequency, n_phases=4):
        return neuron([oriented_grating(size, float(t), frequency) for t in angles_deg])

    _, text = run(exercises.check_tuning_curve, tuning_curve)
    assert "it got list" in text and "torch.stack" in text, text


# 5. demos run only on functions that pass their check now, and 06's demo can fail

def _notebook_namespace(path, stop_at_demo=True):
    """Run the cells of a solution notebook before its demo cell; returns (namespace, the demo's source)."""
    namespace = {}
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    (demo,) = [c.source for c in cells if c.source.startswith(("if ok_", "if recheck("))]
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in cells:
            if cell.source == demo:
                break
            exec(compile(cell.source, path.name, "exec"), namespace)
    return namespace, demo


def test_tv_demo_refuses_a_function_redefined_wrongly_after_its_pass():
    namespace, demo = _notebook_namespace(EXERCISES / "solutions" / "07_tv_loss.ipynb")
    assert namespace["ok_tv"] is True
    exec("def tv_loss(x):\n    return ((x[:, :, 1:] - x[:, :, :-1]) ** 2).mean() + ((x[..., 1:] - x[..., :-1]) ** 2).mean()",
         namespace)  # redefined after the PASS: the mean, not the sum
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(demo, namespace)
    assert "TV =" not in out.getvalue(), out.getvalue()   # before: "TV =      0.0" three times, no error
    assert "needs tv_loss to pass the check" in out.getvalue()


def test_style_demo_catches_a_missing_mask_by_itself():
    namespace, demo = _notebook_namespace(EXERCISES / "solutions" / "06_style_loss.ipynb")
    exec("def style_layer_grad(F, A):\n    N_l, M_l = F.shape\n"
         "    return (F.T @ (gram_matrix(F) - A)).T / (N_l**2 * M_l**2)", namespace)  # eq. (2) without its mask
    namespace["recheck"] = lambda *functions: True  # as if the gate let it through: the demo alone must object
    with contextlib.redirect_stdout(io.StringIO()), pytest.raises(AssertionError):
        exec(demo, namespace)


def test_recheck_is_quiet_on_pass_and_names_the_failures():
    def tv_loss(x):
        return ((x[:, :, 1:] - x[:, :, :-1]) ** 2).sum() + ((x[..., 1:] - x[..., :-1]) ** 2).sum()

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert exercises.recheck(tv_loss) is True
    assert out.getvalue() == ""

    def gram_matrix(F):
        return F.T @ F

    with contextlib.redirect_stdout(out):
        assert exercises.recheck(tv_loss, gram_matrix) is False
    assert "needs gram_matrix to pass the check" in out.getvalue() and "tv_loss" not in out.getvalue()
    with pytest.raises(ValueError, match="no checker"):
        exercises.recheck(lambda x: x)


# 6. exercise 05's prose says what its code divides by

def test_content_demo_prose_names_the_normalisation_the_code_uses():
    for path in (EXERCISES / "05_content_loss.ipynb", EXERCISES / "solutions" / "05_content_loss.ipynb"):
        cells = nbformat.read(path, as_version=4).cells
        (i,) = [i for i, c in enumerate(cells) if c.source.startswith(("if ok_content", "if recheck(content"))]
        assert "/ (0.5 * (C_l**2).sum())" in cells[i].source
        assert "½‖C‖²" in cells[i - 1].source and "N_l·M_l" not in cells[i - 1].source, cells[i - 1].source


# 7. "How this works" lists every verdict a check can print

@pytest.mark.parametrize("path", sorted(EXERCISES.glob("*.ipynb")) + sorted(EXERCISES.glob("solutions/*.ipynb")),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_how_this_works_lists_every_verdict(path):
    (how,) = [c.source for c in nbformat.read(path, as_version=4).cells if "**How this works.**" in c.source]
    paragraph = how[how.index("**How this works.**"):]
    for verdict in ("`PASS`", "`FAIL`", "`ERROR`", "`not implemented yet`"):
        assert verdict in paragraph, (verdict, paragraph)


# the run-time text is translatable

def _tr_calls(path):
    return [node for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "tr"]


@pytest.mark.parametrize("module", ["exercises.py", "grade.py"])
def test_every_tr_call_has_a_literal_msgid(module):
    calls = _tr_calls(ROOT / "course_lib" / module)
    assert len(calls) >= 10
    for call in calls:
        assert call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str), \
            ast.unparse(call)


def test_checker_lines_go_through_the_catalogue(monkeypatch):
    catalogue = {"PASS  {name}: {n} inputs agree with the reference (largest error {error:.2g})": "OK {name} ({n})",
                 "{name}: not implemented yet": "{name}: TODO",
                 "FAIL  {name} on input {i} of {n} ({inputs}): {problem}": "NO {name} #{i}: {problem}",
                 "{what} has shape {got}, expected {expected}": "shape {got} != {expected}",
                 "the result": "R"}
    monkeypatch.setattr(i18n, "catalogue", lambda lang: catalogue if lang == "xx" else {})
    monkeypatch.setenv("COURSE_LIB_LANG", "xx")
    assert run(exercises.check_gram_matrix, lambda F: F @ F.T)[1] == "OK gram_matrix (4)\n"
    assert run(exercises.check_gram_matrix, lambda F: F.T @ F)[1].startswith("NO gram_matrix #1: shape [7, 7] != [3, 3]")

    def gram_matrix(F):
        raise NotImplementedError

    assert run(exercises.check_gram_matrix, gram_matrix)[1] == "gram_matrix: TODO\n"


def test_hidden_seeds_change_the_inputs_and_keep_the_verdicts():
    seen = []
    for seed in (0, 1, 12345):
        ok, _ = run(exercises.check_gram_matrix, lambda F: seen.append(F.clone()) or F @ F.T, seed=seed)
        assert ok
    assert not torch.equal(seen[0], seen[4]) and not torch.equal(seen[4], seen[8])
    for check, wrong in [(exercises.check_tuning_curve, lambda n, a, s, f, p=4: torch.zeros(len(a))),
                         (exercises.check_style_layer_grad, lambda F, A: (F.T @ (F @ F.T - A)).T)]:
        assert run(check, wrong, seed=987)[0] is False
