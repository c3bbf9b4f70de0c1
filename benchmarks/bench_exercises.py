"""Exercise rows: how long a student waits for a check (all checkers, run on the references), and
how long the lecturer waits per graded submission (``course_lib.grade``, one student's 8 notebooks)."""
import contextlib
import io
import tempfile
from pathlib import Path

import nbformat

from benchmarks.harness import Bench, Ratio
from course_lib import dream, exercises, hooks, hubel_wiesel, style, transposed
from course_lib.grad_cam import grad_cam_map, grad_cam_weights
from course_lib.integrated_gradients import path_integral

REFERENCES = [
    (exercises.check_tuning_curve, exercises.reference_tuning_curve),
    (exercises.check_orientation_selectivity_index, hubel_wiesel.orientation_selectivity_index),
    (exercises.check_deconvnet_rule, hooks.RELU_BACKWARD_RULES["deconvnet"]),
    (exercises.check_guided_rule, hooks.RELU_BACKWARD_RULES["guided"]),
    (exercises.check_conv_matrix, transposed.conv_matrix),
    (exercises.check_transposed_conv, transposed.transposed_conv),
    (exercises.check_class_objective, dream.class_objective),
    (exercises.check_content_layer_loss, style.content_layer_loss),
    (exercises.check_gram_matrix, style.gram_matrix),
    (exercises.check_style_layer_loss, style.style_layer_loss),
    (exercises.check_style_layer_grad, style.style_layer_grad),
    (exercises.check_tv_loss, style.tv_loss),
    (exercises.check_grad_cam_weights, grad_cam_weights),
    (exercises.check_grad_cam_map, grad_cam_map),
    (exercises.check_integrated_gradients, path_integral),
]
NOTEBOOKS, TASKS = 8, 15     # course_lib.grade.EXERCISES: notebooks and task functions (1 point each)


def _quietly(pairs):
    def run():
        with contextlib.redirect_stdout(io.StringIO()):
            assert all(check(reference) for check, reference in pairs)

    return run


def _grade_one_submission(jobs):
    """A folder with one student who hands in all 8 solved notebooks; the call grades it."""
    def make():
        from course_lib import grade

        root = Path(tempfile.mkdtemp(prefix="bench-grade-"))
        solutions = Path(__file__).resolve().parents[1] / "notebooks" / "exercises" / "solutions"
        if not solutions.is_dir():
            raise RuntimeError("the grading rows need the solutions: run them in the lecturer's copy, not the release")
        (root / "in" / "student").mkdir(parents=True)
        for path in sorted(solutions.glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            nb.cells = [c for c in nb.cells if "solution-only" not in c.metadata.get("tags", [])]
            nbformat.write(nb, root / "in" / "student" / path.name)

        def run():
            rows = grade.grade(root / "in", root / "grades.csv", seed=1, jobs=jobs, log=lambda *a: None)
            assert rows[0]["total"] == TASKS, rows
        return run
    return make


def _grade_a_class(trusted, students=12):
    """A generated class, honest, wrong, broken and hostile mixed (all 8 notebooks each), graded with
    --jobs = cores; the row's time is the whole run (sandbox start included), its size says the class."""
    def make():
        import os
        from course_lib import grade

        root = Path(tempfile.mkdtemp(prefix="bench-class-"))
        solutions = Path(__file__).resolve().parents[1] / "notebooks" / "exercises" / "solutions"
        kinds = {  # what replaces the last code cell's neighbours: nothing, a wrong body, a crash, an attack
            "honest": [],
            "wrong": ["import torch\ntorch.Tensor.sum = lambda self, *a, **k: self.mean(*a, **k)"],
            "broken": ["raise RuntimeError('my bug')"],
            "hostile": ["import os, subprocess\nsubprocess.Popen(['sleep', '60'], start_new_session=True)\n"
                        "open('result.json', 'w').write('{}')\nos._exit(0)"],
        }
        for i in range(students):
            kind = list(kinds)[i % len(kinds)]
            (root / "in" / f"s{i:03d}_{kind}").mkdir(parents=True)
            for path in sorted(solutions.glob("*.ipynb")):
                nb = nbformat.read(path, as_version=4)
                nb.cells = [c for c in nb.cells if "solution-only" not in c.metadata.get("tags", [])]
                nb.cells += [nbformat.v4.new_code_cell(source) for source in kinds[kind]]
                nbformat.write(nb, root / "in" / f"s{i:03d}_{kind}" / path.name)

        def run():
            rows = grade.grade(root / "in", root / "grades.csv", seed=1, jobs=os.cpu_count() or 2,
                               trusted=trusted, log=lambda *a: None)
            assert rows[0]["total"] == TASKS and rows[3]["total"] == 0, rows     # honest and hostile
        return run
    return make


def benchmarks():
    return [
        Bench(f"grade: seconds per graded submission ({NOTEBOOKS} notebooks, 1 worker)", f"{TASKS} tasks",
              _grade_one_submission(1)),
        Bench(f"grade: seconds per graded submission ({NOTEBOOKS} notebooks, 2 workers)", f"{TASKS} tasks",
              _grade_one_submission(2)),
        # one timed run each (a class takes half a minute; the sandboxed and the trusted row run side by side)
        Bench("grade: a class of 12, sandboxed (--jobs = cores)", f"12x{NOTEBOOKS} nb", _grade_a_class(False),
              repeats=1, warmup=False),
        Bench("grade: a class of 12, unsandboxed (--trust-submissions)", f"12x{NOTEBOOKS} nb", _grade_a_class(True),
              repeats=1, warmup=False),
        Ratio("grade: sandboxed / unsandboxed time (goal <= 1.25x)", "grade: a class of 12, sandboxed (--jobs = cores)",
              "grade: a class of 12, unsandboxed (--trust-submissions)", None),
        Bench(f"exercises: all {len(REFERENCES)} checkers on the references", "-", lambda: _quietly(REFERENCES)),
        Bench("exercises: check_integrated_gradients (with completeness)", "3 + 4 calls", lambda: _quietly(REFERENCES[-1:]),
              repeats=5),
        Bench("exercises: check_guided_rule (with a small net)", "8x8", lambda: _quietly(REFERENCES[3:4]), repeats=5),
    ]
