"""Exercise rows: how long a student waits for a check (all checkers, run on the references), and
how long the lecturer waits per graded submission (``course_lib.grade``, one student's 7 notebooks)."""
import contextlib
import io
import tempfile
from pathlib import Path

import nbformat

from benchmarks.harness import Bench
from course_lib import dream, exercises, hooks, hubel_wiesel, style, transposed

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
]


def _quietly(pairs):
    def run():
        with contextlib.redirect_stdout(io.StringIO()):
            assert all(check(reference) for check, reference in pairs)

    return run


def _grade_one_submission(jobs):
    """A folder with one student who hands in all 7 solved notebooks; the call grades it."""
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
            assert rows[0]["total"] == 12, rows
        return run
    return make


def benchmarks():
    return [
        Bench("grade: seconds per graded submission (7 notebooks, 1 worker)", "12 tasks", _grade_one_submission(1)),
        Bench("grade: seconds per graded submission (7 notebooks, 2 workers)", "12 tasks", _grade_one_submission(2)),
        Bench(f"exercises: all {len(REFERENCES)} checkers on the references", "-", lambda: _quietly(REFERENCES)),
        Bench("exercises: check_guided_rule (with a small net)", "8x8", lambda: _quietly(REFERENCES[3:4]), repeats=5),
    ]
