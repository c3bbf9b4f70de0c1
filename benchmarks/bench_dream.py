"""DeepDream and class-model visualisation on the bundled network (slides "Deep Dream #1-#4")."""
import contextlib

import torch

from benchmarks.harness import Bench, Ratio
from course_lib import load_model
from course_lib.dream import ClassVisConfig, DreamConfig, channels_last, class_config, class_visualization, deep_dream
from course_lib.guided_dream import guided_dream
from course_lib.samples import sample_image


def _dream(width, height, octaves=4, steps=10, tile=512):
    model = load_model(device="cpu")
    photo = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0))
    config = DreamConfig(objective="block10", octaves=octaves, octave_scale=1.4, steps=steps, jitter=32, tile=tile)
    return lambda: deep_dream(model, photo, config=config, quiet=True)


def _guided_section(guided):
    """Notebook 04's guided-dream cell at lecture size: block6, 256 px, 3 octaves x 10 steps; plain or guided."""
    model = load_model(device="cpu")
    config = DreamConfig(objective="block6", size=256, octaves=3, steps=10, jitter=32)
    photo, guide = sample_image("chelsea", 256), sample_image("swirls")
    if guided:
        return lambda: guided_dream(model, photo, guide, config=config, quiet=True)
    return lambda: deep_dream(model, photo, config=config, quiet=True)


def _class_vis():
    model = load_model(device="cpu")
    config = ClassVisConfig(steps=100, size=224, jitter=8, blur_every=10)
    return lambda: class_visualization(model, "goldfish", config=config, quiet=True)


def _class_model(recipe):
    """One class model with the recipe's lecture defaults (what notebook 04 makes per picture)."""
    from course_lib import config as course_config

    if course_config.QUICK:
        raise RuntimeError("unset COURSE_LIB_QUICK: class models are timed at their lecture defaults")
    model = load_model(device="cpu")
    config = class_config(recipe)
    return lambda: class_visualization(model, "goldfish", config=config, quiet=True)


def _ascent_step(batch, layout):
    """One step's forward + backward to the image (what a class model pays per step), ``batch`` images at once."""
    model = load_model(device="cpu")
    I = torch.rand(batch, 3, 224, 224, generator=torch.Generator().manual_seed(0))

    def step():
        x = I.clone().requires_grad_(True)
        with channels_last(model.net) if layout == "channels-last" else contextlib.nullcontext():
            return torch.autograd.grad(model.net(x)[:, 1].sum(), x)

    return step


def benchmarks():
    return [
        Bench("DeepDream block10, 4 octaves x 10 steps", "320x240", lambda: _dream(320, 240), floor_s=5.0),
        # memory: the same large image with and without tiles (compare the peak RSS column)
        Bench("DeepDream block10, 1 octave x 2 steps, tiles 400", "1600x1200", lambda: _dream(1600, 1200, 1, 2, tile=400), warmup=False),
        Bench("DeepDream block10, 1 octave x 2 steps, no tiles", "1600x1200", lambda: _dream(1600, 1200, 1, 2, tile=4096), warmup=False),
        Bench("DeepDream block6, 3 octaves x 10 steps (plain)", "256x171", lambda: _guided_section(False)),
        Bench("DeepDream block6, 3 octaves x 10 steps, guided", "256x171", lambda: _guided_section(True)),
        Ratio("guided / plain DeepDream (block6)", "DeepDream block6, 3 octaves x 10 steps, guided", "DeepDream block6, 3 octaves x 10 steps (plain)"),
        Bench("class visualisation, 100 steps", "224x224", _class_vis),
        # the cost of each recipe at its lecture defaults; one call each (repeats=1): a call is tens of seconds
        Bench("class model, recipe slide, lecture defaults", "224x224", lambda: _class_model("slide"), repeats=1, warmup=False),
        Bench("class model, recipe distill, lecture defaults", "224x224", lambda: _class_model("distill"), repeats=1, warmup=False),
        Ratio("class model distill / slide", "class model, recipe distill, lecture defaults", "class model, recipe slide, lecture defaults"),
        # where a class model's time goes: one step, by weight layout and batch (4 images in one batch: ratio 4 = no gain)
        Bench("class-model step, batch 1, contiguous weights", "224x224", lambda: _ascent_step(1, "contiguous"), repeats=10),
        Bench("class-model step, batch 1, channels-last weights", "224x224", lambda: _ascent_step(1, "channels-last"), repeats=10),
        Bench("class-model step, batch 4, channels-last weights", "4x224x224", lambda: _ascent_step(4, "channels-last"), repeats=5),
        Ratio("class-model step channels-last / contiguous", "class-model step, batch 1, channels-last weights", "class-model step, batch 1, contiguous weights"),
        Ratio("class-model step batch 4 / batch 1 (channels-last)", "class-model step, batch 4, channels-last weights", "class-model step, batch 1, channels-last weights"),
    ]
