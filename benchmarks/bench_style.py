"""Gatys style transfer (course_lib.style): the bundled net against the paper's VGG19, side by side.

Tuning notes (the numbers behind ``course_lib.style.DEFAULT_LAYERS`` and ``CLEAN``):
EfficientNet-Lite0's style layers are the ends of its first five stages (block0 /2, block2 /4, block4 /8,
block7 /16, block10 /16), content at block7. Tried on the paintings: adding ``stem`` gives pixel noise,
dropping block10 small strokes only, content at block4 keeps too little room for the style.
The clean recipe, measured with ``course_lib.style_checks`` on chelsea + swirls / Starry Night (256 px,
200 evaluations; numbers in notebook 06): the stride-2 stem and depthwise convolutions let pixel-sized
speckle through unseen (colours in neither image, high-frequency energy 10x the photo's): the TV term
(tv = 50) removes it; the style overwhelmed the cat at the plain beta: 0.4 of it keeps the cat and still
paints it; the TensorFlow "same" padding of a stride-2 convolution is one-sided on an even side and leaves
a coloured band on the top rows: on a canvas of 16 k + 1 px it is two-sided at every stride-2 layer up to
block10 and the band does not form (top band 0.94 on Starry Night, 1.62 plain). That costs 1.05x the
pixels of x; the earlier fix, a 16 px border that caught the band, cost 1.34x. Tried and not kept: a 4 or
8 px border (a faint band at 4); random 1-2 px shifts between L-BFGS rounds, a sigmoid or blurred
parameterisation of x, a border that passes no gradient (no better, the cat lost, or the style diluted).
VGG has no stride-2 convolutions: only the 16 px border, against its zero padding.
"""
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
