"""Faster Gatys at the same quality: quality against seconds for each recipe (slides "Artistic Style #7-#8").

Every recipe of ``style.transfer`` is judged on the picture it has after t seconds, by measures that the
painting network does not see (``style_checks``, and the independent judge of ``course_lib.judge``):

    high frequency   h(x) / h(a) <= 1.6         no pixel speckle beyond the painting's own brush work
    style distance   D(x, a) / D(c, a) <= 0.6   D: the judge's Gram matrices (``Judge.style_distance``)
    recognised       rank of the photo's class in the judge's guesses for x < 5
    layout           corr(x, c) at 32 px (shown; the goals above decide)

c the photo, a the painting, x the picture, all at x's size. recipe="fast" (``style_recipes.pyramid``) gets
there sooner: most of its evaluations are on a smaller x, and it stops earlier.
"""
import time
from typing import NamedTuple

import torch

from .i18n import tr
from .style import TransferConfig, transfer
from .style_canvas import pixels
from .style_checks import high_frequency, layout_similarity

GOALS = {"high_frequency": 1.6, "style_distance": 0.6, "rank": 5}   # at most, at most, below
RECIPE_COLOURS = {"plain": "tab:red", "clean": "tab:blue", "fast": "tab:green"}


def recipe_title(recipe: str) -> str:
    """How a figure names a recipe: ``recipe='clean'`` in English, «чистый рецепт» in Russian."""
    return {"plain": tr("recipe='plain'"), "clean": tr("recipe='clean'"), "fast": tr("recipe='fast'")}.get(recipe, recipe)


class Curve(NamedTuple):
    seconds: list         # time of the picture since the start of the run, the measuring not counted
    evaluations: list     # loss evaluations done by then
    quality: list         # {measure: value} of the picture then (``quality_measure``)
    image: torch.Tensor   # the final picture [1, 3, H, W]


def quality_measure(photo, painting, judge=None):
    """A function x -> {"high_frequency", "layout", and with a judge "style_distance", "rank"} (see the module).

    The judge's guesses for x are its usual ones (260 x 260 px); its Gram matrices are taken at long side 256.
    """
    cache = {}

    def at(size):
        if size not in cache:
            c, a = pixels(photo, size), pixels(painting, size)
            A = judge and judge.grams(a)                                    # the painting's Gram matrices
            cache[size] = c, a, high_frequency(a), judge and (A, judge.gram_distance(judge.grams(c), A),
                                                              judge.probabilities(c).argmax().item())
        return cache[size]

    def measure(x: torch.Tensor) -> dict:
        c, a, h_a, seen = at(max(x.shape[-2:]))
        q = {"high_frequency": high_frequency(x) / h_a, "layout": layout_similarity(x, c)}
        if judge is not None:
            A, d_c, top = seen
            q.update(style_distance=judge.gram_distance(judge.grams(x), A) / d_c, rank=judge.rank(x, top).item())
        return q
    return measure


def meets_goals(q: dict) -> bool:
    """All of ``GOALS`` that ``q`` measures are met."""
    return all(q[k] < GOALS[k] if k == "rank" else q[k] <= GOALS[k] for k in GOALS if k in q)


def time_to_quality(content, style, model=None, recipes=("plain", "clean", "fast"), judge=None, every: int = 10,
                    config: TransferConfig | None = None, **settings) -> dict:
    """{recipe: ``Curve``}: each recipe's picture measured every ``every`` evaluations and at the end.

    The runs are ``transfer(content, style, model, config, recipe=..., **settings)``; a picture of a smaller
    pyramid stage is measured scaled up to the full size, as it would be shown if the run stopped there.
    """
    measure = quality_measure(content, style, judge)
    size = settings.get("size") or (config or TransferConfig()).size
    H, W = pixels(content, size).shape[-2:]
    curves = {}
    for recipe in recipes:
        curve = Curve([], [], [], None)
        clock = {"start": time.perf_counter(), "measuring": 0.0}

        def watch(evaluation, x, curve=curve, clock=clock):
            if evaluation % every == 0:
                _record(curve, clock, evaluation, x, (H, W), measure)

        result = transfer(content, style, model, config, recipe=recipe, live=False, quiet=True, watch=watch, **settings)
        _record(curve, clock, len(result.history["total"]), result.image, (H, W), measure)
        curves[recipe] = curve._replace(image=result.image)
    return curves


def _record(curve, clock, evaluation, x, hw, measure):
    now = time.perf_counter()
    x = x if x.shape[-2:] == hw else torch.nn.functional.interpolate(x, size=hw, mode="bilinear")   # [1, 3, H, W]
    curve.seconds.append(now - clock["start"] - clock["measuring"])
    curve.evaluations.append(evaluation)
    curve.quality.append(measure(x))
    clock["measuring"] += time.perf_counter() - now


def seconds_to_goals(curve: Curve):
    """Seconds until the first measured picture that meets ``GOALS`` (None: never)."""
    return next((s for s, q in zip(curve.seconds, curve.quality) if meets_goals(q)), None)


def plot_time_to_quality(curves: dict, axes=None):
    """Quality against seconds, one line per recipe, the goals dashed (slide: Artistic Style #8)."""
    import matplotlib.pyplot as plt

    keys = [k for k in ("style_distance", "high_frequency", "layout") if k in next(iter(curves.values())).quality[0]]
    if axes is None:
        _, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2))
    titles = {"style_distance": tr("judge's style distance / photo's"), "high_frequency": tr("high frequency / painting's"),
              "layout": tr("layout: correlation with the photo")}
    for ax, key in zip(axes, keys):
        for recipe, curve in curves.items():
            ax.plot(curve.seconds, [q[key] for q in curve.quality], ".-", color=RECIPE_COLOURS.get(recipe),
                    label=recipe_title(recipe))
            done = seconds_to_goals(curve)
            if done is not None:
                ax.axvline(done, color=RECIPE_COLOURS.get(recipe), linestyle=":", linewidth=1)
        if key in GOALS:
            ax.axhline(GOALS[key], color="grey", linestyle="--", linewidth=1)
        ax.set(title=titles[key], xlabel=tr("seconds"))
    axes[0].legend(title=tr("recipe (dotted: goals met)"))
    return axes
