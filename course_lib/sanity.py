"""Sanity check for saliency maps: cascading randomisation of the weights (notebook 05).

Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim, "Sanity Checks for Saliency Maps" (NeurIPS 2018):
a map that explains the model must change when the model is destroyed. On a *copy* of the
network, re-draw the weights layer by layer from the top (logits first, then the head, the last
block ...), and after each step compare the map with the trained network's map by the Spearman
rank correlation of M = max_ch |w| (slide "Saliency Maps #2"):

    rho_l = corr(rank M_trained, rank M_random-from-top-down-to-l)

The values of each weight tensor of a re-drawn layer are shuffled at random (the distribution
and scale of the weights stay, the learned structure goes; BatchNorm's running statistics stay). A map that stays near rho = 1
while the classifier is gone shows the image (its edges), not what the model uses.
"""
import copy
import dataclasses

import torch
import torch.nn as nn

from .attribution import check_input
from .i18n import tr
from .models import CourseModel
from .saliency import class_index, saliency, saliency_map


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rho between the maps M of two gradients [1, 3, H, W] (Pearson r of the ranks; no ties in practice)."""
    ranks = [saliency_map(w).flatten().argsort().argsort().double() for w in (a, b)]   # [H*W] each
    return torch.corrcoef(torch.stack(ranks))[0, 1].item()


def randomise_(modules, generator: torch.Generator) -> None:
    """Shuffle the values of every parameter of ``modules``, in place (only ever on a copy!)."""
    with torch.no_grad():
        for module in modules:
            for p in module.parameters(recurse=False):
                order = torch.randperm(p.numel(), generator=generator).to(p.device)
                p.copy_(p.flatten()[order].view_as(p))


def weight_groups(model: CourseModel, net: nn.Module) -> dict:
    """{layer name: modules of ``net`` whose weights belong to it}, top (logits) first.

    A module with weights belongs to the first course layer that ends at or after it in the network's
    module order (EfficientNet's ``stem`` is the ReLU6 after ``_conv_stem`` and ``_bn0``: all three).
    ``net`` is ``model.net`` or a deep copy of it (same module order)."""
    original, mods = list(model.net.modules()), list(net.modules())
    position = {id(m): i for i, m in enumerate(original)}
    ends = {name: max(position[id(m)] for m in layer.modules()) for name, layer in model.layers.items()}
    groups = {name: [] for name in sorted(ends, key=ends.get)}
    for i, m in enumerate(original):
        if any(True for _ in m.parameters(recurse=False)):
            owner = min((n for n in ends if ends[n] >= i), key=ends.get, default=None)
            if owner is not None:
                groups[owner].append(mods[i])
    return {name: groups[name] for name in reversed(groups) if groups[name]}


def randomised_copies(model: CourseModel, steps, seed: int = 0):
    """Yield (step, a CourseModel on one deep copy of the net, random from the top down to ``step``).

    The same copy is yielded each time, destroyed one step further: use it before asking for the next.
    Any technique that takes a course model (Grad-CAM's layer names included) runs on it unchanged."""
    net = copy.deepcopy(model.net)
    groups = weight_groups(model, net)
    order = list(groups)
    unknown = [s for s in steps if s not in order]
    if unknown:
        raise ValueError(tr("{name!r} is not a layer with weights; the cascade runs over {order}", name=unknown[0], order=", ".join(order)))
    if [order.index(s) for s in steps] != sorted(order.index(s) for s in steps):
        raise ValueError(tr("steps must go from the top down, in the order {order}", order=", ".join(s for s in order if s in steps)))
    copies = dict(zip(map(id, model.net.modules()), net.modules()))
    destroyed = dataclasses.replace(model, net=net, layers={n: copies[id(m)] for n, m in model.layers.items()})
    generator, done = torch.Generator().manual_seed(seed), 0
    for step in steps:
        for name in order[done: order.index(step) + 1]:             # randomise down to this step
            randomise_(groups[name], generator)
        done = order.index(step) + 1
        yield step, destroyed


def cascading_randomisation(model: CourseModel, x: torch.Tensor, target, methods=("gradient", "guided"),
                            steps=None, seed: int = 0, **averaging) -> dict:
    """rho of each method's map after each step of the cascade (Adebayo et al. 2018, notebook 05).

    ``steps``: layer names, top first (default: every layer with weights); after step ``l`` every layer
    from the top down to ``l`` is random. ``averaging``: options of ``saliency`` (``samples`` ...).
    Returns {"steps": [...], "rho": {method: [rho per step]}, "maps": {method: [w trained, w per step]}}.
    The model itself is never touched: the cascade runs on one deep copy.
    """
    if not isinstance(model, CourseModel):
        raise TypeError(tr("cascading_randomisation needs a CourseModel (load_model(...)), got {kind}", kind=type(model).__name__))
    check_input(x)
    steps = list(weight_groups(model, model.net)) if steps is None else list(steps)
    c = class_index(model, target)
    maps = {m: [saliency(model, x, c, m, **averaging)] for m in methods}
    for _, destroyed in randomised_copies(model, steps, seed):
        for m in methods:
            maps[m].append(saliency(destroyed.net, x, c, m, **averaging))
    rho = {m: [rank_correlation(maps[m][0], w) for w in maps[m][1:]] for m in methods}
    return {"steps": steps, "rho": rho, "maps": maps}
