"""DeepDream on a photo (slide "Deep Dream #4") and Google's DeepDream.

Deep Dream #4: start from a photo instead of the zero image of ``class_model.py`` and at each
iteration pick a random class, zeroing the others. Google's DeepDream (Mordvintsev, Olah, Tyka
2015, "Inceptionism") amplifies a layer's activations instead (mean squared activation) over
several octaves; that is ``deep_dream`` with a layer name. The dream works in [0, 1] image
space: the photo must stay a photo, and the step size is then in pixels, whatever the network.

Additions beyond the slide, each a switch: random jitter (roll) of the image, clipping to
valid pixels, gradient normalisation (changes the speed, not the fixed points), octaves and
tiling. The class-model names (``class_visualization``, ``class_objective``, ...) are
re-exported from ``class_model``: notebooks and exercises import them from here.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .class_model import (RECIPES, ClassVisConfig, class_config, class_objective,  # re-exported: notebooks and
                          class_visualization, random_roll, with_overrides)      # exercises import them from dream
from .config import lecture_or_quick
from .images import image_to_tensor, load_image, tensor_to_image
from .models import channels_last
from .progress import Optimisation
from .i18n import tr, trn

DOG_CLASSES = range(151, 269)     # ImageNet: 'Chihuahua' ... 'Mexican hairless'
ANIMAL_CLASSES = range(0, 398)    # ImageNet: 'tench' ... 'puffer'


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
    cfg = with_overrides(config or DreamConfig(), objective=objective, octaves=octaves, octave_scale=octave_scale,
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
                value, g = _gradient(f, model, random_roll(x, cfg.jitter, generator), cfg.tile)
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
