"""Gatys style transfer (course_lib.style): the bundled net against the paper's VGG19, side by side."""
import torch

from benchmarks.bench_fast_style import FEED_FORWARD
from benchmarks.harness import Bench, Ratio
from course_lib import load_model, sample_image
from course_lib.style import transfer

LITE = "Gatys style: 256 px, 200 L-BFGS evals (efficientnet_lite0)"
PLAIN = "Gatys style: 256 px, 200 L-BFGS evals (efficientnet_lite0, recipe plain)"
VGG = "Gatys style: 256 px, 200 L-BFGS evals (vgg19, random weights)"


def _transfer(name, size, steps=200, recipe="clean"):
    torch.manual_seed(0)
    model = load_model(name, device="cpu", pretrained=name == "efficientnet_lite0")
    content, style = sample_image("chelsea"), sample_image("swirls")
    # the default layers (VGG19: conv4_2 and relu1_1..relu5_1, as in the paper) and beta/alpha;
    # recipe "clean" (the default) adds TV and a canvas of 16 k + 1 px (1.05x the pixels at 256 px; the
    # earlier 16 px border made it 1.34x and 1.5x the time of "plain")
    return lambda: transfer(content, style, model, size=size, steps=steps, quiet=True, live=False, recipe=recipe)


def benchmarks():
    return [
        Bench(LITE, "256 px", lambda: _transfer("efficientnet_lite0", 256), floor_s=15.0),
        Bench(PLAIN, "256 px", lambda: _transfer("efficientnet_lite0", 256, recipe="plain"), warmup=False),
        Ratio("Gatys style: recipe clean / plain time", LITE, PLAIN),
        Bench(VGG, "256 px", lambda: _transfer("vgg19", 256), warmup=False),
        Ratio("Gatys style: vgg19 / efficientnet_lite0 time", VGG, LITE),
        Ratio("fast style: Gatys (256 px, 200 evals) / feed-forward", LITE, FEED_FORWARD, floor=100),
        Bench("Gatys style: 512 px, 200 evals, peak RSS (floor < 1500 MB)", "512 px",
              lambda: _transfer("efficientnet_lite0", 512), warmup=False),
    ]
