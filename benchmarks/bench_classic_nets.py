"""The slides' networks on the paths the notebooks take when they are cached (random weights).

Rows: what one widget interaction costs on AlexNet / VGG16 / VGG19 (01 conv1 filters, 03
top-9 patches with switches, 05 the three saliency maps, 06 Gatys at 256 px), each with the
row's own peak RSS (model + work; a notebook adds its own baseline). The slow rows run a
whole lecture notebook with a temporary cache of random weights under torchvision's file
names (``tests/support.py``): that peak RSS is what decides what Binder (2 GB,
our limit 1.5 GB) may pre-fetch: ``python -m benchmarks "with cached"``.
"""
import os
import tempfile
from pathlib import Path

import torch

from benchmarks.harness import Bench
from course_lib import deconvnet, load_model, sample_image, saliency

ROOT = Path(__file__).resolve().parents[1]


def _random(name):
    torch.manual_seed(0)
    return load_model(name, device="cpu", pretrained=False)


def first_layer(name):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_lib.filters import show_first_layer_filters

    model = _random(name)
    return lambda: plt.close(show_first_layer_filters(model, ncols=16, size=0.8))


def top_patches(name, layer="relu3_3"):
    model = _random(name)
    pool = deconvnet.image_pool()          # the notebook's pool (lecture mode: 224 px, with crops)

    def run():
        deconvnet._last_pool.clear()       # a new layer: the pool's activations are computed again
        deconvnet.top_patches(model, layer, 5, pool)

    return run


def saliency_three(name):
    model = _random(name)
    x = model.preprocess(sample_image("chelsea"), 224)
    return lambda: saliency.compare(model, x, "tabby")


def gatys(name, steps):
    from course_lib.style import transfer

    model = _random(name)
    cat, style = sample_image("chelsea"), sample_image("swirls")
    return lambda: transfer(cat, style, model, size=256, steps=steps, live=False, quiet=True)


def notebook_with_cache(notebook, net):
    def make():
        from course_lib import config
        from tests.support import write_random_weights
        from course_lib.notebook_runner import run_notebook

        if config.QUICK:
            raise RuntimeError("unset COURSE_LIB_QUICK: notebook memory is measured in lecture mode")
        home = Path(tempfile.mkdtemp(prefix="fake-torch-"))
        write_random_weights(home, [net])
        os.environ["TORCH_HOME"] = str(home)   # this child process only
        return lambda: run_notebook(ROOT / "notebooks" / f"{notebook}.ipynb", quick=False)   # timed: the whole notebook, once

    return make


PATHS = [("01_filters_hubel_wiesel", "alexnet"), ("03_deconvnet", "alexnet"), ("03_deconvnet", "vgg16"),
         ("05_saliency", "vgg16"), ("06_artistic_style", "vgg19")]


def benchmarks():
    return [
        Bench("classic 01: conv1 filter tiles (alexnet, random)", "64x11x11", lambda: first_layer("alexnet")),
        Bench("classic 03: top-9 patches relu3_3 (alexnet, random)", "pool 224", lambda: top_patches("alexnet")),
        Bench("classic 03: top-9 patches relu3_3 (vgg16, random)", "pool 224", lambda: top_patches("vgg16")),
        Bench("classic 05: three saliency maps (vgg16, random)", "224x224", lambda: saliency_three("vgg16")),
        Bench("classic 06: Gatys 10 evaluations (vgg19, random)", "256 px", lambda: gatys("vgg19", 10)),
        Bench("classic 06: Gatys 200 evaluations (vgg19, random)", "256 px", lambda: gatys("vgg19", 200),
              repeats=1, warmup=False, slow=True),   # minutes: one run, only when named
        *[Bench(f"notebook {nb} lecture run with cached {net} (random)", "lecture", notebook_with_cache(nb, net),
                repeats=1, warmup=False, slow=True) for nb, net in PATHS],
    ]
