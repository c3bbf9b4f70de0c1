"""Saliency maps: the derivative of a class score with respect to the image.

Slides "Saliency Maps #1-#4". For an image I and the score S_c of class c, the map is

    w = dS_c / dI                  [N, 3, H, W]   (Simonyan, Vedaldi & Zisserman 2014)
    M_ij = max_ch |w_ch,ij|        [N, H, W]      the map shown in the paper

Slide #3: the deconvnet projection (Zeiler & Fergus 2014) is this same backward pass with
another rule at each ReLU; slide #4: guided backprop (Springenberg et al., "Striving for
simplicity: the all convolutional net", 2015) applies both rules at once and gives sharper
maps. The three methods differ *only* in the ReLU backward rule, kept in one place:
``course_lib.hooks.RELU_BACKWARD_RULES``:

    gradient:   R_l = R_{l+1} * [x_l > 0]
    deconvnet:  R_l = max(R_{l+1}, 0)
    guided:     R_l = max(R_{l+1}, 0) * [x_l > 0]
"""
import operator
from contextlib import contextmanager

import torch
import torch.nn as nn

from .display import show_images
from .hooks import RELU_BACKWARD_RULES, functional_relus, is_relu, relu_backward_rule
from .models import CourseModel, UnknownNameError, check_name, imagenet_categories

METHODS = tuple(RELU_BACKWARD_RULES)  # ("gradient", "deconvnet", "guided")


class UnsupportedModelError(ValueError):
    """The chosen ReLU rule cannot be applied to this network (the message says why)."""


def saliency(model, x: torch.Tensor, target, method: str = "gradient") -> torch.Tensor:
    """w = dS_c/dI with the ReLU backward rule ``method`` (slides: Saliency Maps #2-#4).

    Args:
        model: a ``CourseModel`` or any ``nn.Module`` classifier giving [N, classes] scores.
        x: network input [N, 3, H, W] (e.g. ``model.preprocess(image)``).
        target: class index c, or an ImageNet category name.
        method: "gradient" (Simonyan), "deconvnet" (Zeiler & Fergus) or "guided" (Springenberg).
    Returns:
        the raw gradient, same shape as ``x``. The model is left exactly as it was.
    """
    net = model.net if isinstance(model, CourseModel) else model
    if method not in RELU_BACKWARD_RULES:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    check_input(x)
    c = class_index(model, target)
    device = next((p.device for p in net.parameters()), x.device)
    I = x.detach().to(device).clone().requires_grad_(True)  # [N, 3, H, W]
    with evaluating(net), torch.enable_grad():
        check_rule_applies(net, I, method)
        with relu_backward_rule(net, method):
            S = net(I)  # [N, classes]
            if not 0 <= c < S.shape[1]:
                raise UnknownNameError(f"class index {c} is out of range 0..{S.shape[1] - 1}")
            (w,) = torch.autograd.grad(S[:, c].sum(), I)  # not .backward(): parameters get no .grad
    return w


def check_input(x) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
        shape = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a network input [N, 3, H, W] (e.g. model.preprocess(image)), got {shape}")


def class_index(model, target) -> int:
    """c from an index or a category name (names need a CourseModel or ImageNet's 1000 classes)."""
    if isinstance(model, CourseModel):
        return model.class_index(target)
    if isinstance(target, str):
        lowered = [name.lower() for name in imagenet_categories()]
        check_name("class", target.lower(), lowered)
        return lowered.index(target.lower())
    try:
        return operator.index(target.item() if isinstance(target, torch.Tensor) else target)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"target must be a class index or a category name, got {target!r}") from None


def check_rule_applies(net: nn.Module, x: torch.Tensor, method: str) -> None:
    """Refuse, with a reason, networks where a ReLU rule would silently not apply."""
    if method == "gradient":
        return  # the plain gradient needs no rule
    calls = functional_relus(net, x[:1])
    if not calls and not any(is_relu(m) for m in net.modules()):
        raise UnsupportedModelError(f"the {method!r} rule changes the backward pass of ReLU modules, "
                                    f"and this network has none; use method='gradient'")
    if calls:
        raise UnsupportedModelError(
            f"this network calls ReLU as a function {len(calls)} times ({', '.join(sorted(set(calls)))}) inside "
            f"forward(), where the {method!r} rule cannot reach it, so the map would silently be closer to a "
            f"plain gradient. Use method='gradient', or a network built from nn.ReLU modules "
            f"(VGG, AlexNet, the bundled EfficientNet-Lite0).")


@contextmanager
def evaluating(net: nn.Module):
    """Eval mode inside the block (no dropout, no BatchNorm updates); each module's mode restored after."""
    modes = [(m, m.training) for m in net.modules()]
    try:
        net.eval()
        yield
    finally:
        for m, training in modes:
            m.training = training


# ---- showing the maps ---------------------------------------------------------------

def saliency_map(w: torch.Tensor) -> torch.Tensor:
    """M_ij = max over colour channels of |w| (Simonyan et al., slide: Saliency Maps #2). [N,3,H,W] -> [N,H,W]."""
    return w.detach().abs().amax(dim=1)


def colour_image(w: torch.Tensor, percentile: float = 99.5) -> torch.Tensor:
    """The signed gradient as a colour picture in [0, 1]: 0 is grey, each image scaled on its own.

    The scale is the ``percentile`` of |w| (a few extreme pixels would otherwise turn the rest grey),
    as in the deconvnet and guided-backprop figures (slides: Saliency Maps #3-#4). [N,3,H,W] -> [N,3,H,W].
    """
    w = w.detach().float()
    scale = torch.quantile(w.abs().flatten(1), percentile / 100, dim=1).clamp(min=1e-12)  # [N]
    return (0.5 + w / (2 * scale.view(-1, 1, 1, 1))).clamp(0, 1)


def map_image(w: torch.Tensor, percentile: float = 99.5) -> torch.Tensor:
    """M scaled to [0, 1] for display, the ``percentile`` of M mapped to white. [N,3,H,W] -> [N,H,W]."""
    M = saliency_map(w).float()
    scale = torch.quantile(M.flatten(1), percentile / 100, dim=1).clamp(min=1e-12)  # [N]
    return (M / scale.view(-1, 1, 1)).clamp(0, 1)


def compare(model, x: torch.Tensor, target) -> dict:
    """{method: w} for all three methods on the same image and class (slides: Saliency Maps #3-#4)."""
    return {method: saliency(model, x, target, method) for method in METHODS}


def pairwise_correlation(maps: dict) -> dict:
    """{(a, b): Pearson r} between the saliency maps M of every pair of methods."""
    flat = {name: saliency_map(w).flatten() for name, w in maps.items()}
    names = list(flat)
    return {(a, b): torch.corrcoef(torch.stack([flat[a], flat[b]]))[0, 1].item()
            for i, a in enumerate(names) for b in names[i + 1:]}


def show_comparison(model, x: torch.Tensor, target, methods=METHODS, view: str = "map"):
    """The image beside its saliency maps, one per method (slides: Saliency Maps #2-#4).

    ``view``: "map" for M = max_ch |w| (grey), "colour" for the signed gradient.
    """
    if view not in ("map", "colour"):
        raise ValueError(f"view must be 'map' or 'colour', got {view!r}")
    maps = {method: saliency(model, x, target, method) for method in methods}
    pictures = [map_image(w)[0] if view == "map" else colour_image(w) for w in maps.values()]
    name = model.categories[model.class_index(target)] if isinstance(model, CourseModel) else target
    return show_images([model.deprocess(x)] + pictures, ["image"] + list(maps), cmap="gray", suptitle=f"class: {name}")
