"""Class-model visualisation and DeepDream (slides "Deep Dream #1-#4").

Deep Dream #1-#2: the image that a class c likes best,

    I* = argmax_I  S_c(I) - lambda * ||I||_2^2,

found by gradient ascent from a zero image; S_c is the unnormalised class score
(Simonyan, Vedaldi, Zisserman 2014, "Deep Inside Convolutional Networks").
Here I lives in the network's input space, where I = 0 is the mean image of the
training set, as in the paper: "zero image" and "||I||" refer to that space.

Deep Dream #4: start from a photo instead and at each iteration pick a random class,
zeroing the others. Google's DeepDream (Mordvintsev, Olah, Tyka 2015) amplifies a
layer's activations instead (mean squared activation) over several octaves; that is
``deep_dream`` with a layer name. The dream works in [0, 1] image space: the photo
must stay a photo, and the step size is then in pixels, whatever the network.

Additions beyond the slides, each a switch: random jitter (roll) of the image,
Gaussian blur, clipping to valid pixels, gradient normalisation (changes the speed,
not the fixed points), octaves and tiling. ``class_visualization(..., recipe="distill")``
keeps the objective and changes the image's description and the steps, after Olah,
Mordvintsev, Schubert, "Feature Visualization" (Distill 2017): see ``feature_vis.py``.
"""
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torchvision.transforms.functional import gaussian_blur

from .config import lecture_or_quick
from .feature_vis import ImageParam, random_transform
from .images import image_to_tensor, load_image, tensor_to_image
from .models import channels_last
from .progress import Optimisation
from .i18n import tr, trn

DOG_CLASSES = range(151, 269)     # ImageNet: 'Chihuahua' ... 'Mexican hairless'
ANIMAL_CLASSES = range(0, 398)    # ImageNet: 'tench' ... 'puffer'


# ---- Deep Dream #1-#3: class-model visualisation -------------------------------------

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
    cfg = _settings(config or class_config(recipe or "slide"), steps=steps, lr=lr, l2=l2)
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
            scores = model.net(_roll(I, cfg.jitter, generator)[0])              # [1, 1000]
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


# ---- Deep Dream #4 and Google's DeepDream ----------------------------------------------

@dataclass
class DreamConfig:
    objective: str = "block10"
    octaves: int = lecture_or_quick(4, 2)
    octave_scale: float = 1.4
    steps: int = lecture_or_quick(10, 3)      # per octave
    step_size: float = 0.01                    # pixels in [0, 1] per step (gradient normalised)
    jitter: int = lecture_or_quick(32, 4)     # random roll, pixels
    size: int = lecture_or_quick(400, 96)     # long side of the dreamed image
    tile: int = 512                           # gradient computed tile by tile above this size


def layer_objective(model, layer: str, channel: int | None = None):
    """Mean squared activation of a layer (or one of its channels): Google's DeepDream."""
    model.layer(layer)  # UnknownNameError now, not inside the loop

    def objective(x):
        A = model.features(x, layer)[layer]                                  # [N, C, H_l, W_l]
        if channel is None:
            return A.pow(2).mean()
        if not 0 <= channel < A.shape[1]:
            raise ValueError(trn("channel {channel} is out of range: layer {layer!r} has {n} channel, 0..{last}",
                                 "channel {channel} is out of range: layer {layer!r} has {n} channels, 0..{last}",
                                 A.shape[1], channel=channel, layer=layer, last=A.shape[1] - 1))
        return A[:, channel].pow(2).mean()

    return objective


def random_class_objective(model, generator: torch.Generator):
    """Each call picks a random class c and zeroes the others: S_c(I) (slide: Deep Dream #4)."""

    def objective(x):
        c = int(torch.randint(len(model.categories), (1,), generator=generator))
        one_hot = torch.zeros(1, len(model.categories), device=x.device)     # [1, 1000]
        one_hot[0, c] = 1
        return (model.net(x) * one_hot).sum()                                # S_c, the others zeroed

    return objective


def make_objective(model, objective, channel=None, generator=None):
    """A layer name, "random_class", or a function x_input -> scalar."""
    if callable(objective):
        return objective
    if objective == "random_class":
        return random_class_objective(model, generator or torch.Generator().manual_seed(0))
    return layer_objective(model, objective, channel)


def deep_dream(model, image, objective=None, octaves=None, octave_scale=None, steps=None,
               step_size=None, jitter=None, *, channel=None, config=None, seed=0, live=False, quiet=False):
    """DeepDream on a photo: gradient ascent on ``objective`` over octaves (slide: Deep Dream #4).

    Args:
        image: anything ``load_image`` takes, or a [1, 3, H, W] tensor in [0, 1].
        objective: a layer name (mean squared activation; ``channel`` picks one channel),
            "random_class" (the slide), or a function of the network input -> scalar.
        octaves, octave_scale, steps (per octave), step_size, jitter: override ``config``.
    Returns:
        (dreamed image [1, 3, H, W] in [0, 1], list of the objective per step).
    """
    cfg = _settings(config or DreamConfig(), objective=objective, octaves=octaves, octave_scale=octave_scale,
                    steps=steps, step_size=step_size, jitter=jitter)
    generator = torch.Generator().manual_seed(seed)
    f = make_objective(model, cfg.objective, channel, generator)
    if isinstance(image, torch.Tensor):
        base = image.detach().float().to(model.device)
    else:
        base = image_to_tensor(load_image(image, max_size=cfg.size)).to(model.device)
    if base.dim() != 4 or base.shape[:2] != (1, 3):
        raise ValueError(tr("expected an image tensor [1, 3, H, W], got {shape}", shape=list(base.shape)))
    pyramid = [_resize(base, size) for size in _octave_sizes(base.shape[-2:], cfg.octaves, cfg.octave_scale)]
    detail = torch.zeros_like(pyramid[0])            # what the dream added so far; smallest octave first
    octave_base = previous_base = pyramid[0]
    x = octave_base
    name = cfg.objective if isinstance(cfg.objective, str) else getattr(cfg.objective, "__name__", "objective")
    with channels_last(model.net), Optimisation(cfg.steps * len(pyramid), tr("DeepDream {name}", name=name), live=live, to_image=tensor_to_image, quiet=quiet) as run:
        for octave_base in pyramid:
            x = octave_base + _resize(detail, octave_base.shape[-2:])      # carry the detail up
            for _ in range(cfg.steps):
                value, g = _gradient(f, model, _roll(x, cfg.jitter, generator), cfg.tile)
                if not run.step(value if torch.isfinite(g).all() else float("nan"), x):
                    break
                x = (x + cfg.step_size * g / (g.abs().mean() + 1e-12)).clamp(0, 1)
            if run.stopped:
                break
            detail, previous_base = x - octave_base, octave_base
    x = run.best_image(x)                             # after a divergence: the last good image
    detail = x - (octave_base if x.shape == octave_base.shape else previous_base)
    return (base + _resize(detail, base.shape[-2:])).clamp(0, 1), run.history


def _gradient(f, model, rolled, tile):
    """Objective and its gradient w.r.t. the [0, 1] image, tile by tile (memory ~ tile^2)."""
    x, unroll = rolled
    g = torch.zeros_like(x)
    total = 0.0
    for rows in _tiles(x.shape[-2], tile):
        for cols in _tiles(x.shape[-1], tile):
            patch = x[..., rows, cols].detach().requires_grad_(True)
            value = f(model.to_input(patch))
            (g[..., rows, cols],) = torch.autograd.grad(value, patch)
            total += value.item()
    return total, unroll(g)


def _tiles(length, tile):
    """Equal slices covering 0..length, none longer than ``tile``."""
    n = -(-length // tile)
    edges = [round(i * length / n) for i in range(n + 1)]
    return [slice(a, b) for a, b in zip(edges, edges[1:])]


def _octave_sizes(hw, octaves, scale, smallest=32):
    """(H, W) of each octave, smallest first; never below ``smallest`` pixels."""
    if octaves < 1 or scale < 1:
        raise ValueError(tr("need octaves >= 1 and octave_scale >= 1, got {octaves} and {scale}", octaves=octaves, scale=scale))
    h, w = hw
    if min(h, w) < smallest:
        raise ValueError(tr("image of {w}x{h} pixels is too small to dream on; give at least {smallest}x{smallest}",
                            w=w, h=h, smallest=smallest))
    sizes = [(max(smallest, round(h / scale ** i)), max(smallest, round(w / scale ** i))) for i in range(octaves)]
    return sizes[::-1]


def _resize(x, size):
    size = tuple(int(s) for s in size)
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def _roll(x, jitter, generator):
    """Rolled image and the function that rolls a gradient back."""
    if not jitter:
        return x, lambda g: g
    dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
    return torch.roll(x, (dy, dx), dims=(2, 3)), lambda g: torch.roll(g, (-dy, -dx), dims=(2, 3))


def _settings(config, **overrides):
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})


# ---- "why so many dog faces and eyes?" ------------------------------------------------

def dog_classes(model) -> list:
    """The ImageNet dog breeds (indices 151-268), checked by name."""
    names = model.categories
    if (names[151], names[268]) != ("Chihuahua", "Mexican hairless"):
        raise ValueError("these categories are not in ImageNet order; cannot locate the dog breeds")
    return [names[i] for i in DOG_CLASSES]


@torch.no_grad()
def pushed_up(model, before: torch.Tensor, after: torch.Tensor, k: int = 10) -> list:
    """[(category, rise of S_c)] for the k classes whose score rose most from ``before`` to ``after``."""
    rise = model.net(model.to_input(after)) - model.net(model.to_input(before))   # [1, 1000]
    top = rise[0].topk(k)
    return [(model.categories[i], v.item()) for v, i in zip(top.values, top.indices)]
