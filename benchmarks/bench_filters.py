"""Notebooks 01-02 rows: the Hubel & Wiesel tuning sweep, one live slider step, the transposed-conv widget."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from benchmarks.harness import Bench  # noqa: E402
from course_lib import load_model, sample_image  # noqa: E402
from course_lib.hubel_wiesel import HubelWieselConfig, HubelWieselExperiment  # noqa: E402
from course_lib.images import image_to_tensor  # noqa: E402
from course_lib.transposed import conv_matrix, show_checkerboard, show_conv_matrix  # noqa: E402

SWEEP = HubelWieselConfig(size=96, n_angles=36, n_positions=8)   # lecture settings, whatever the mode


def tuning_sweep(layer):
    model = load_model(device="cpu")

    def run():
        HubelWieselExperiment(model, SWEEP).sweep(layer)   # a fresh experiment: nothing cached

    return run


def slider_step():
    experiment = HubelWieselExperiment(load_model(device="cpu"), SWEEP)
    experiment.sweep("block6")

    def run():
        plt.close(experiment.show("block6", 3, angle=45, position=1.5))

    return run


def transposed_widget():
    photo = image_to_tensor(sample_image("chelsea", max_size=256))

    def run():
        plt.close(show_conv_matrix(torch.randn(3, 3), (4, 4), 2, 0))
        plt.close(show_checkerboard(photo, 3, 2))

    return run


def effective(layer, units, method, samples):
    """Notebook 01's effective-filter cells (lecture settings)."""
    from course_lib.filters import effective_filters
    model = load_model(device="cpu")
    return lambda: effective_filters(model, layer, range(units), method, samples=samples, size=48, batch=256)


def dense_matrix():
    weight = torch.randn(8, 8, 3, 3)
    return lambda: conv_matrix(weight, (16, 16), 1, 1)


def benchmarks():
    return [
        Bench("hubel-wiesel tuning sweep stem (36 angles x 8 pos)", "288x96x96", lambda: tuning_sweep("stem")),
        Bench("hubel-wiesel tuning sweep block6 (36 angles x 8 pos)", "288x96x96", lambda: tuning_sweep("block6")),
        Bench("hubel-wiesel slider step (block6, sweep cached)", "96x96", slider_step, repeats=5),
        Bench("effective filters block2, 16 units, mean gradient (16 samples)", "48x48", lambda: effective("block2", 16, "gradient", 16)),
        Bench("effective filters block0, 4 units, reverse correlation (8192 samples)", "48x48",
              lambda: effective("block0", 4, "reverse_correlation", 8192), repeats=1),   # one run: tens of seconds
        Bench("transposed widget redraw (C, C^T, checkerboard)", "256 px", transposed_widget),
        Bench("conv_matrix dense 8->8 ch 3x3", "16x16", dense_matrix, repeats=5),
    ]
