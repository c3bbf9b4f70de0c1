"""Class-model visualisation: the image a class likes best (slides "Deep Dream #1-#3").

    I* = argmax_I  S_c(I) - lambda * ||I||_2^2,

found by gradient ascent from a zero image; S_c is the unnormalised class score
(Simonyan, Vedaldi, Zisserman 2014, "Deep Inside Convolutional Networks").
Here I lives in the network's input space, where I = 0 is the mean image of the
training set, as in the paper: "zero image" and "||I||" refer to that space.

Additions beyond the slide, each a switch: random jitter (roll) of the image, Gaussian
blur, clipping to valid pixels, gradient normalisation (changes the speed, not the fixed
points). ``class_visualization(..., recipe="distill")`` keeps the objective and changes the
image's description and the steps, after Olah, Mordvintsev, Schubert, "Feature
Visualization" (Distill 2017): see ``feature_vis.py``. DeepDream on photos: ``dream.py``.
"""
from dataclasses import dataclass, replace

import torch

from .config import lecture_or_quick
from .feature_vis import ImageParam, random_transform
from .images import gaussian_blur, tensor_to_image
from .models import channels_last
from .progress import Optimisation
from .i18n import tr


@dataclass
class ClassVisConfig:
    recipe: str = "slide"      # "slide": pixels, gradient steps; "distill": Olah et al. 2017 (feature_vis.py)
    steps: int = lecture_or_quick(100, 16)    # at 224 px both recipes have settled by 100 steps; quick: 16 keep the λ effect clear
    lr: float = 0.05           # mean step (gradient normalised): slide in network-input units, distill before the sigmoid
    l2: float = 0.003          # lambda of the slide
    size: int = lecture_or_quick(224, 64)
    jitter: int = lecture_or_quick(16, 2)      # addition: random roll, pixels
    blur_every: int = lecture_or_quick(5, 0)   # addition (slide recipe): Gaussian blur every n steps (0: never)
    blur_sigma: float = 0.8
    fourier: bool = False      # distill: the image is a 1/f-scaled Fourier spectrum
    decorrelate: bool = False  # distill: colours in the decorrelated space of natural photos
    scale: float = 0.0         # distill: random rescale by 1 +- scale at each step
    rotate: float = 0.0        # distill: random rotation by +- rotate degrees at each step
    optimizer: str = "gradient"  # distill: "gradient" (the slide's normalised step) or "adam" (the paper's code)


RECIPES = ("slide", "distill")


def class_config(recipe: str = "slide", **overrides) -> ClassVisConfig:
    """The lecture defaults of a recipe, with ``overrides`` (field=value) applied."""
    if recipe == "slide":
        base = ClassVisConfig()
    elif recipe == "distill":
        base = ClassVisConfig(recipe="distill", steps=lecture_or_quick(100, 8), lr=0.1, l2=0.003,
                              jitter=lecture_or_quick(8, 2), blur_every=0, fourier=True, decorrelate=True,
                              scale=lecture_or_quick(0.1, 0.05), rotate=lecture_or_quick(10.0, 5.0))
    else:
        raise ValueError(tr("unknown recipe {recipe!r}; choose one of {recipes}: 'slide' (Simonyan et al. 2014, "
                            "the slide) or 'distill' (Olah, Mordvintsev, Schubert 2017)", recipe=recipe, recipes=RECIPES))
    return replace(base, **overrides)


def class_objective(scores: torch.Tensor, c: int, image: torch.Tensor, l2: float) -> torch.Tensor:
    """S_c(I) - lambda * ||I||_2^2, summed over the batch (slide: Deep Dream #1)."""
    return scores[:, c].sum() - l2 * image.pow(2).sum()  # scores [N, 1000], image [N, 3, H, W]


def class_visualization(model, target, recipe=None, steps=None, lr=None, l2=None, *, config=None,
                        seed=0, live=False, quiet=False):
    """Gradient ascent on S_c(I) - lambda ||I||^2 from the mean image I = 0 (slide: Deep Dream #2).

    Args:
        target: class index or category name.
        recipe: "slide" (default; the slide's pixel ascent) or "distill" (Fourier, decorrelated
            colours, random transforms: ``feature_vis``); picks the lecture defaults ``class_config(recipe)``.
        steps, lr, l2: override ``config`` (a ``ClassVisConfig``; its ``recipe`` must agree with ``recipe``).
    Returns:
        (image [1, 3, size, size] in [0, 1], list of S_c per step).
    """
    if recipe is not None and recipe not in RECIPES:
        class_config(recipe)  # the readable ValueError
    if config is not None and recipe is not None and config.recipe != recipe:
        raise ValueError(tr("recipe={recipe!r} but config is a {config!r} config; pass one of them, "
                            "or class_config({recipe!r}, ...)", recipe=recipe, config=config.recipe))
    cfg = with_overrides(config or class_config(recipe or "slide"), steps=steps, lr=lr, l2=l2)
    c = model.class_index(target)
    if cfg.recipe not in RECIPES:
        class_config(cfg.recipe)
    ascent = _slide_ascent if cfg.recipe == "slide" else _distill_ascent
    with channels_last(model.net):
        return ascent(model, c, cfg, torch.Generator().manual_seed(seed), live, quiet)


def _slide_ascent(model, c, cfg, generator, live, quiet):
    I = torch.zeros(1, 3, cfg.size, cfg.size, device=model.device)       # 1. zeros = the mean image
    scores_c = []
    to_image = lambda t: tensor_to_image(model.from_input(t))
    with Optimisation(cfg.steps, tr("class model '{name}'", name=model.categories[c]), live=live, to_image=to_image, quiet=quiet) as run:
        for _ in range(cfg.steps):
            I.requires_grad_(True)
            scores = model.net(random_roll(I, cfg.jitter, generator)[0])              # [1, 1000]
            objective = class_objective(scores, c, I, cfg.l2)
            (g,) = torch.autograd.grad(objective, I)                         # 2. the derivative
            if not run.step(objective.item() if torch.isfinite(g).all() else float("nan"), I):
                break
            scores_c.append(scores[0, c].item())
            with torch.no_grad():
                I = I + cfg.lr * g / (g.abs().mean() + 1e-12)                # 3. add it to the image
                if cfg.blur_every and len(scores_c) % cfg.blur_every == 0:
                    I = gaussian_blur(I, 3, cfg.blur_sigma)
                I = model.to_input(model.from_input(I).clamp(0, 1))          # stay a valid picture
    return model.from_input(run.best_image(I)).clamp(0, 1), scores_c


def _distill_ascent(model, c, cfg, generator, live, quiet):
    param = ImageParam(cfg.size, fourier=cfg.fourier, decorrelate=cfg.decorrelate, device=model.device)
    if cfg.optimizer not in ("gradient", "adam"):
        raise ValueError(tr("unknown optimizer {optimizer!r}; choose 'gradient' or 'adam'", optimizer=cfg.optimizer))
    optimiser = torch.optim.Adam([param.Z], lr=cfg.lr) if cfg.optimizer == "adam" else None
    scores_c = []
    with Optimisation(cfg.steps, tr("class model '{name}' (distill)", name=model.categories[c]), live=live,
                      to_image=tensor_to_image, quiet=quiet) as run:
        for _ in range(cfg.steps):
            x = param.image()                                                # [1, 3, H, W] in (0, 1), I = 0.5 grey at first
            seen = random_transform(x, generator, cfg.jitter, cfg.scale, cfg.rotate)
            scores = model.net(model.to_input(seen))                         # [1, 1000]
            objective = class_objective(scores, c, model.to_input(x), cfg.l2)
            (g,) = torch.autograd.grad(objective, param.Z)                   # d objective / dZ
            if not run.step(objective.item() if torch.isfinite(g).all() else float("nan"), x):
                break
            scores_c.append(scores[0, c].item())
            if optimiser is None:                                            # the slide's step, on Z
                param.step(g, cfg.lr)
            else:
                param.Z.grad = -g                                            # Adam minimises
                optimiser.step()
    with torch.no_grad():
        x = param.image()
    return run.best_image(x).clamp(0, 1), scores_c


def random_roll(x, jitter, generator):
    """Rolled image and the function that rolls a gradient back."""
    if not jitter:
        return x, lambda g: g
    dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
    return torch.roll(x, (dy, dx), dims=(2, 3)), lambda g: torch.roll(g, (-dy, -dx), dims=(2, 3))


def with_overrides(config, **overrides):
    """``config`` with the overrides that are not None (a function's keyword beats its config)."""
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})
