"""Attribution: one backward pass from a chosen output to the pixels, with a switchable ReLU rule.

Slides "Saliency Maps #2-#4" and "Deconvolutional networks". Saliency maps (Simonyan et al. 2014),
the deconvnet projection (Zeiler & Fergus 2014) and guided backprop (Springenberg et al. 2015) are
this same pass, R = d<y, g>/dI for an output y of the network and a seed g, differing *only* in the
rule at each ReLU (``course_lib.hooks.RELU_BACKWARD_RULES``):

    gradient:   R_l = R_{l+1} * [x_l > 0]
    deconvnet:  R_l = max(R_{l+1}, 0)
    guided:     R_l = max(R_{l+1}, 0) * [x_l > 0]

Averaged maps (``samples`` > 1, notebooks 03 and 05):

    R = 1/n sum_k R evaluated at T_k(I) + eps_k      eps_k ~ N(0, sigma^2)

* SmoothGrad (Smilkov et al., "SmoothGrad: removing noise by adding noise", 2017):
  sigma = noise * (max I - min I), noise about 0.1-0.2 in the paper;
* the stride lattice: T_k shifts the image by the k-th offset (dy, dx) of a shift x shift
  lattice. A stride-2 layer's backward pass is a transposed strided convolution and paints
  a pattern of period 2 (4, 8 ... after several) fixed to the network's grid (notebook 02);
  shifted back, the pattern lands on another phase each time, and the mean over all
  phases of a periodic pattern is flat. The gradient of the mean is the mean of the
  gradients shifted back, so autograd does the shifting back.

``saliency`` (y = S_c) and ``deconvnet`` (y = one kept activation) are thin modules on ``attribute``.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import lecture_or_quick
from .hooks import RELU_BACKWARD_RULES, evaluating, functional_relus, is_relu, relu_backward_rule
from .i18n import tr, trn

METHODS = tuple(RELU_BACKWARD_RULES)  # ("gradient", "deconvnet", "guided")
SAMPLES = lecture_or_quick(16, 4)     # lecture default of an averaged map: the whole 4 x 4 stride lattice
SHIFT = 4                             # lattice side: removes patterns of period 2 and 4 exactly


class UnsupportedModelError(ValueError):
    """The chosen ReLU rule cannot be applied to this network (the message says why)."""


def attribute(net: nn.Module, x: torch.Tensor, output, method: str = "gradient", samples: int = 1,
              shift: int = SHIFT, noise: float = 0.0, seed: int = 0, batch: int = 4) -> torch.Tensor:
    """R = d<y, g>/dI with the ReLU backward rule ``method``, averaged over ``samples`` copies of I.

    ``output(X)`` -> (y, g): the output to attribute for the batch of copies X and its seed g (same shape
    as y). Copies, noise and ``batch`` as in ``averaged_inputs``. Returns R, the shape of ``x``; ``net``
    is left exactly as it was (modes restored, hooks removed, no parameter gets a ``.grad``).
    """
    if method not in RELU_BACKWARD_RULES:
        raise ValueError(tr("unknown method {method!r}; choose one of {methods}", method=method, methods=", ".join(METHODS)))
    check_input(x)
    check_averaging(x, samples, shift, noise, batch)
    device = next((p.device for p in net.parameters()), x.device)
    I = x.detach().to(device).clone().requires_grad_(True)  # [N, 3, H, W]
    R = torch.zeros_like(I)
    with evaluating(net), torch.enable_grad():
        check_rule_applies(net, I, method)
        with relu_backward_rule(net, method):
            for X in averaged_inputs(I, samples, shift, noise, seed, batch):   # [n*N, 3, H, W], n*N <= max(batch, N)
                y, g = output(X)
                R += torch.autograd.grad(y, I, grad_outputs=g)[0]   # not .backward(): parameters get no .grad
    return R / samples


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


# ---- pictures and titles of a signed map, shared by notebooks 03 and 05 ---------------

def colour_image(w: torch.Tensor, percentile: float = 99.5) -> torch.Tensor:
    """The signed gradient as a colour picture in [0, 1]: 0 is grey, each image scaled on its own.

    The scale is the ``percentile`` of |w| (a few extreme pixels would otherwise turn the rest grey),
    as in the deconvnet and guided-backprop figures (slides: Saliency Maps #3-#4). [N,3,H,W] -> [N,3,H,W].
    """
    w = w.detach().float()
    scale = torch.quantile(w.abs().flatten(1), percentile / 100, dim=1).clamp(min=1e-12)  # [N]
    return (0.5 + w / (2 * scale.view(-1, 1, 1, 1))).clamp(0, 1)


def method_title(method: str) -> str:
    """The name of an attribution method (a backward rule, or a ``which_map`` method) as a figure shows it."""
    return {"gradient": tr("gradient"), "guided": tr("guided"), "deconvnet": tr("deconvnet"), "smoothgrad": "SmoothGrad",
            "occlusion": tr("occlusion"), "grad_cam": "Grad-CAM", "guided_grad_cam": "Guided Grad-CAM",
            "integrated_gradients": tr("integrated gradients")}.get(method, method)


def averaging_note(samples: int = 1, shift: int = SHIFT, noise: float = 0.0, **_) -> str:
    """A title suffix saying how a map was averaged ("" for the plain map)."""
    if samples == 1 and noise == 0:
        return ""
    parts = [trn("mean of {n} copy", "mean of {n} copies", samples)]
    parts += [tr("{shift}x{shift} lattice shifts", shift=shift)] if shift > 1 and samples > 1 else []
    return ", " + ", ".join(parts + ([tr("SmoothGrad noise {noise:g}", noise=noise)] if noise else []))
