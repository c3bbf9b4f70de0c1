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

Averaged maps (option ``samples`` > 1, notebook 05):

    w = 1/n sum_k dS_c/dI evaluated at T_k(I) + eps_k      eps_k ~ N(0, sigma^2)

* SmoothGrad (Smilkov et al., "SmoothGrad: removing noise by adding noise", 2017):
  sigma = noise * (max I - min I), noise about 0.1-0.2 in the paper;
* the stride lattice: T_k shifts the image by the k-th offset (dy, dx) of a shift x shift
  lattice. A stride-2 layer's backward pass is a transposed strided convolution and paints
  a pattern of period 2 (4, 8 ... after several) fixed to the network's grid (notebook 02);
  shifted back, the pattern lands on another phase each time, and the mean over all
  phases of a periodic pattern is flat. The gradient of the mean is the mean of the
  gradients shifted back, so autograd does the shifting back.
"""
import operator
from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import lecture_or_quick
from .display import show_images
from .hooks import RELU_BACKWARD_RULES, functional_relus, is_relu, relu_backward_rule
from .models import CourseModel, UnknownNameError, check_name, imagenet_categories
from .i18n import tr, trn

METHODS = tuple(RELU_BACKWARD_RULES)  # ("gradient", "deconvnet", "guided")
SAMPLES = lecture_or_quick(16, 4)     # lecture default of an averaged map: the whole 4 x 4 stride lattice
SHIFT = 4                             # lattice side: removes patterns of period 2 and 4 exactly


class UnsupportedModelError(ValueError):
    """The chosen ReLU rule cannot be applied to this network (the message says why)."""


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
    if method not in RELU_BACKWARD_RULES:
        raise ValueError(tr("unknown method {method!r}; choose one of {methods}", method=method, methods=", ".join(METHODS)))
    check_input(x)
    check_averaging(x, samples, shift, noise, batch)
    c = class_index(model, target)
    device = next((p.device for p in net.parameters()), x.device)
    I = x.detach().to(device).clone().requires_grad_(True)  # [N, 3, H, W]
    w = torch.zeros_like(I)
    with evaluating(net), torch.enable_grad():
        check_rule_applies(net, I, method)
        with relu_backward_rule(net, method):
            for X in averaged_inputs(I, samples, shift, noise, seed, batch):   # [n*N, 3, H, W]
                S = net(X)  # [n*N, classes]
                if not 0 <= c < S.shape[1]:
                    raise UnknownNameError(tr("class index {index} is out of range 0..{last}", index=c, last=S.shape[1] - 1))
                w += torch.autograd.grad(S[:, c].sum(), I)[0]   # not .backward(): parameters get no .grad
    return w / samples


def lattice(shift: int) -> list:
    """The shift x shift offsets (dy, dx), nearest first: the first 4 are the 2 x 2 lattice, the first 9 the 3 x 3."""
    return sorted(((dy, dx) for dy in range(shift) for dx in range(shift)), key=lambda d: (max(d), d))


def shifted(I: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """T(I): the image moved dy px down and dx px right, the edge repeated; differentiable. [N,3,H,W] -> same."""
    if dy == dx == 0:
        return I
    H, W = I.shape[-2:]
    padded = F.pad(I, (dx, 0, dy, 0), mode="replicate")              # [N, 3, H + dy, W + dx]
    return padded[..., :H, :W]


def averaged_inputs(I: torch.Tensor, samples: int = 1, shift: int = SHIFT, noise: float = 0.0, seed: int = 0,
                    batch: int = 8):
    """Yield the copies T_k(I) + eps_k, k = 0 .. samples-1, at most ``batch`` images at a time: [n*N, 3, H, W].

    ``batch`` bounds the images per forward/backward pass (memory: Binder has 2 GB), not the copies: n = batch // N
    copies of all N images, at least one. Copy 0 is I itself (no shift); with ``samples`` = 1 and ``noise`` = 0 that
    is the plain map."""
    copies_per_pass = max(1, batch // len(I))
    offsets = lattice(shift)
    sigma = noise * (I.max() - I.min()).item()
    generator = torch.Generator().manual_seed(seed)
    for start in range(0, samples, copies_per_pass):
        copies = []
        for k in range(start, min(start + copies_per_pass, samples)):
            T = shifted(I, *offsets[k % len(offsets)])
            if sigma > 0:
                T = T + sigma * torch.randn(I.shape, generator=generator).to(I.device)
            copies.append(T)
        yield torch.cat(copies)


def check_averaging(x: torch.Tensor, samples, shift, noise, batch) -> None:
    """Readable errors for the averaging options."""
    for name, value in (("samples", samples), ("shift", shift), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(tr("{name} must be a whole number >= 1, got {value!r}", name=name, value=value))
    if samples > 1 and shift > min(x.shape[-2:]):
        raise ValueError(tr("shift {shift} is larger than the image ({h} x {w} px)", shift=shift, h=x.shape[-2], w=x.shape[-1]))
    if not isinstance(noise, (int, float)) or isinstance(noise, bool) or not 0 <= noise < 10:
        raise ValueError(tr("noise is sigma / (max x - min x), a number >= 0 (SmoothGrad uses 0.1-0.2), got {noise!r}", noise=noise))


def check_input(x) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
        shape = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(tr("x must be a network input [N, 3, H, W] (e.g. model.preprocess(image)), got {shape}", shape=shape))


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


def check_rule_applies(net: nn.Module, x: torch.Tensor, method: str) -> None:
    """Refuse, with a reason, networks where a ReLU rule would silently not apply."""
    if method == "gradient":
        return  # the plain gradient needs no rule
    calls = functional_relus(net, x[:1])
    if not calls and not any(is_relu(m) for m in net.modules()):
        raise UnsupportedModelError(tr("the {method!r} rule changes the backward pass of ReLU modules, "
                                       "and this network has none; use method='gradient'", method=method))
    if calls:
        raise UnsupportedModelError(trn(
            "this network calls ReLU as a function {n} time ({calls}) inside forward(), where the {method!r} rule "
            "cannot reach it, so the map would silently be closer to a plain gradient. Use method='gradient', or a "
            "network built from nn.ReLU modules (VGG, AlexNet, the bundled EfficientNet-Lite0).",
            "this network calls ReLU as a function {n} times ({calls}) inside forward(), where the {method!r} rule "
            "cannot reach it, so the map would silently be closer to a plain gradient. Use method='gradient', or a "
            "network built from nn.ReLU modules (VGG, AlexNet, the bundled EfficientNet-Lite0).",
            len(calls), calls=", ".join(sorted(set(calls))), method=method))


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


def method_title(method: str) -> str:
    """The name of a backward rule as a figure shows it."""
    return {"gradient": tr("gradient"), "guided": tr("guided"), "deconvnet": tr("deconvnet")}.get(method, method)


def averaging_note(samples: int = 1, shift: int = SHIFT, noise: float = 0.0, **_) -> str:
    """A title suffix saying how a map was averaged ("" for the plain map)."""
    if samples == 1 and noise == 0:
        return ""
    parts = [trn("mean of {n} copy", "mean of {n} copies", samples)]
    parts += [tr("{shift}x{shift} lattice shifts", shift=shift)] if shift > 1 and samples > 1 else []
    return ", " + ", ".join(parts + ([tr("SmoothGrad noise {noise:g}", noise=noise)] if noise else []))
