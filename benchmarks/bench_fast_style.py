"""Notebook 07 rows: one feed-forward stylisation at 256 px (the Gatys ratio is in bench_style.py), and one
training step of the in-class training (lecture mode: 2 crops of 128 px; the shipped nets: 4 crops).

A training step is the body of ``fast_style.train``'s loop: crops, f_W(c), the perceptual loss (loss-network
passes on y and on c), backward through both networks, Adam. 300 lecture steps take 300 x the median.
"""
import torch

from benchmarks.harness import Bench
from course_lib import fast_style
from course_lib.fast_style import load_shipped
from course_lib.images import sample_image
from course_lib.models import load_model

SIZE = 256


def feed_forward():
    fast = load_shipped("swirls")
    photo = sample_image("chelsea", SIZE)
    return lambda: fast.stylise(photo)


def training_step(batch):
    def make():
        config = fast_style.FastStyleConfig(size=128, batch=batch)
        model = load_model(device="cpu")
        images, generator = fast_style.TrainingImages(), torch.Generator().manual_seed(0)
        grams = fast_style.style_grams(model, sample_image("mosaic"), config.size, config.style_layers)
        net = fast_style.TransformerNet(config.channels, config.residual_blocks)
        optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)

        def step():
            c = images.batch(config.batch, config.size, generator)
            loss, _, _ = fast_style.perceptual_loss(model, net(c), c, grams, config)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        return step
    return make


FEED_FORWARD = "fast style: feed-forward stylisation (swirls)"


def benchmarks():
    # its ratio to Gatys at the same size is printed by bench_style.py, after the Gatys row
    return [Bench(FEED_FORWARD, f"{SIZE} px", feed_forward, repeats=10, floor_s=0.1),
            Bench("fast style: training step, lecture (2 crops)", "2x128x128", training_step(2), repeats=5, floor_s=0.4),
            Bench("fast style: training step, shipped (4 crops)", "4x128x128", training_step(4), repeats=5)]
