"""Exercise rows: how long a student waits for a check (all checkers, run on the references)."""
import contextlib
import io

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


def benchmarks():
    return [
        Bench(f"exercises: all {len(REFERENCES)} checkers on the references", "-", lambda: _quietly(REFERENCES)),
        Bench("exercises: check_guided_rule (with a small net)", "8x8", lambda: _quietly(REFERENCES[3:4]), repeats=5),
    ]
