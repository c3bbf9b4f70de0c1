"""Saliency maps: the derivative of a class score with respect to the image.

Slides "Saliency Maps #1-#4". For an image I and the score S_c of class c, the map is

    w = dS_c / dI                  [N, 3, H, W]   (Simonyan, Vedaldi & Zisserman 2014)
    M_ij = max_ch |w_ch,ij|        [N, H, W]      the map shown in the paper

Slide #3: the deconvnet projection (Zeiler & Fergus 2014) is this same backward pass with
another rule at each ReLU; slide #4: guided backprop (Springenberg et al., "Striving for
simplicity: the all convolutional net", 2015) applies both rules at once and gives sharper
maps. The pass, the three rules and the averaged maps (SmoothGrad, the stride lattice) are
``course_lib.attribution``; this module picks y = S_c and shows the maps.
"""
import operator

import torch

from .attribution import (METHODS, SAMPLES, SHIFT, UnsupportedModelError, attribute, averaged_inputs,  # noqa: F401
                          averaging_note, check_averaging, check_input, check_rule_applies, colour_image,  # (re-exported:
                          evaluating, lattice, method_title, shifted)                        # notebooks 03 and 05 use them)
from .display import show_images
from .i18n import tr
from .models import CourseModel, UnknownNameError, check_name, imagenet_categories


def saliency(model, x: torch.Tensor, target, method: str = "gradient", samples: int = 1, shift: int = SHIFT,
             noise: float = 0.0, seed: int = 0, batch: int = 4) -> torch.Tensor:
    """w = dS_c/dI with the ReLU backward rule ``method`` (slides: Saliency Maps #2-#4).

    Args:
        model: a ``CourseModel`` or any ``nn.Module`` classifier giving [N, classes] scores.
        x: network input [N, 3, H, W] (e.g. ``model.preprocess(image)``).
        target: class index c, or an ImageNet category name.
        method: "gradient" (Simonyan), "deconvnet" (Zeiler & Fergus) or "guided" (Springenberg).
        samples: 1 gives the plain map of the slides; n > 1 the mean over n copies of the image,
            the k-th shifted by the k-th offset of the ``shift`` x ``shift`` lattice (``SAMPLES`` =
            16 with ``SHIFT`` = 4 is the lecture default) and, with ``noise`` > 0, SmoothGrad's
            noise of sigma = noise * (max x - min x) added (``seed`` fixes it).
        batch: images per forward pass (bounds memory; at least one copy of all N).
    Returns:
        the raw gradient, same shape as ``x``. The model is left exactly as it was.
    """
    net = model.net if isinstance(model, CourseModel) else model
    if method not in METHODS:       # before the class name: the first error is the first argument's
        raise ValueError(tr("unknown method {method!r}; choose one of {methods}", method=method, methods=", ".join(METHODS)))
    check_input(x)
    check_averaging(x, samples, shift, noise, batch)
    c = class_index(model, target)

    def class_score(X):
        S = net(X)  # [n*N, classes]
        if not 0 <= c < S.shape[1]:
            raise UnknownNameError(tr("class index {index} is out of range 0..{last}", index=c, last=S.shape[1] - 1))
        return S[:, c], torch.ones_like(S[:, c])     # y = S_c of every copy, g = 1

    return attribute(net, x, class_score, method, samples, shift, noise, seed, batch)


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
        raise ValueError(tr("target must be a class index or a category name, got {target!r}", target=target)) from None


# ---- showing the maps ---------------------------------------------------------------

def saliency_map(w: torch.Tensor) -> torch.Tensor:
    """M_ij = max over colour channels of |w| (Simonyan et al., slide: Saliency Maps #2). [N,3,H,W] -> [N,H,W]."""
    return w.detach().abs().amax(dim=1)


def map_image(w: torch.Tensor, percentile: float = 99.5) -> torch.Tensor:
    """M scaled to [0, 1] for display, the ``percentile`` of M mapped to white. [N,3,H,W] -> [N,H,W]."""
    M = saliency_map(w).float()
    scale = torch.quantile(M.flatten(1), percentile / 100, dim=1).clamp(min=1e-12)  # [N]
    return (M / scale.view(-1, 1, 1)).clamp(0, 1)


def lattice_energy(w: torch.Tensor, period: int = 4) -> torch.Tensor:
    """Share of the power of M = max_ch |w| at the frequencies of a pattern of ``period`` px: [N,3,H,W] -> [N].

    A pattern repeating every ``period`` px (the stride checkerboard) has all its power at the
    frequencies (a/period, b/period); a picture without it has about (period^2 - 1)/(H W) there.
    M is cropped to a multiple of ``period``; its mean (the zero frequency) is left out."""
    M = saliency_map(w).double()
    H, W = (M.shape[-2] // period) * period, (M.shape[-1] // period) * period
    if H == 0 or W == 0:
        raise ValueError(tr("the map ({h} x {w}) is smaller than the period {period}", h=M.shape[-2], w=M.shape[-1], period=period))
    M = M[:, :H, :W] - M[:, :H, :W].mean(dim=(1, 2), keepdim=True)
    P = torch.fft.fft2(M).abs() ** 2                                  # [N, H, W] power spectrum
    return P[:, ::H // period, ::W // period].sum(dim=(1, 2)) / P.sum(dim=(1, 2)).clamp_min(1e-30)


def compare(model, x: torch.Tensor, target, **averaging) -> dict:
    """{method: w} for all three methods on the same image and class (slides: Saliency Maps #3-#4).

    ``averaging``: ``samples``, ``shift``, ``noise``, ``seed`` of ``saliency``."""
    return {method: saliency(model, x, target, method, **averaging) for method in METHODS}


def pairwise_correlation(maps: dict) -> dict:
    """{(a, b): Pearson r} between the saliency maps M of every pair of methods."""
    flat = {name: saliency_map(w).flatten() for name, w in maps.items()}
    names = list(flat)
    return {(a, b): torch.corrcoef(torch.stack([flat[a], flat[b]]))[0, 1].item()
            for i, a in enumerate(names) for b in names[i + 1:]}


def show_comparison(model, x: torch.Tensor, target, methods=METHODS, view: str = "map", **averaging):
    """The image beside its saliency maps, one per method (slides: Saliency Maps #2-#4).

    ``view``: "map" for M = max_ch |w| (grey), "colour" for the signed gradient;
    ``averaging``: ``samples``, ``shift``, ``noise``, ``seed`` of ``saliency``.
    """
    if view not in ("map", "colour"):
        raise ValueError(tr("view must be 'map' or 'colour', got {view!r}", view=view))
    maps = {method: saliency(model, x, target, method, **averaging) for method in methods}
    pictures = [map_image(w)[0] if view == "map" else colour_image(w) for w in maps.values()]
    name = model.categories[model.class_index(target)] if isinstance(model, CourseModel) else target
    return show_images([model.deprocess(x)] + pictures, [tr("image")] + [method_title(m) for m in maps], cmap="gray",
                       suptitle=tr("class: {name}", name=name) + averaging_note(**averaging))
