"""DeepDream and class-model visualisation on the bundled network (slides "Deep Dream #1-#4")."""
import torch

from benchmarks.harness import Bench
from course_lib import load_model
from course_lib.dream import ClassVisConfig, DreamConfig, class_visualization, deep_dream


def _dream(width, height, octaves=4, steps=10, tile=512):
    model = load_model(device="cpu")
    photo = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0))
    config = DreamConfig(objective="block10", octaves=octaves, octave_scale=1.4, steps=steps, jitter=32, tile=tile)
    return lambda: deep_dream(model, photo, config=config, quiet=True)


def _class_vis():
    model = load_model(device="cpu")
    config = ClassVisConfig(steps=100, size=224, jitter=8, blur_every=10)
    return lambda: class_visualization(model, "goldfish", config=config, quiet=True)


def benchmarks():
    return [
        Bench("DeepDream block10, 4 octaves x 10 steps", "320x240", lambda: _dream(320, 240), floor_s=5.0),
        # memory: the same large image with and without tiles (compare the peak RSS column)
        Bench("DeepDream block10, 1 octave x 2 steps, tiles 400", "1600x1200", lambda: _dream(1600, 1200, 1, 2, tile=400), warmup=False),
        Bench("DeepDream block10, 1 octave x 2 steps, no tiles", "1600x1200", lambda: _dream(1600, 1200, 1, 2, tile=4096), warmup=False),
        Bench("class visualisation, 100 steps", "224x224", _class_vis),
    ]
