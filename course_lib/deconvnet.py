"""Deconvolutional networks: project a feature back to pixels (Zeiler & Fergus).

Slides "Deconvolutional networks #1-#4" and "Визуализация признаков #0-#3" (feature
visualisation). Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks"
(ECCV 2014), after Zeiler, Taylor & Fergus, "Adaptive deconvolutional networks" (2011).

A mirror network is attached to every conv/ReLU/max-pool layer and runs downwards:

    inverse pooling (#4):       put each value back where the max came from (the "switches")
    inverse nonlinearity (#2):  the same ReLU, R = max(R, 0)
    deconvolution (#3):         the same filters transposed,  y^c = sum_k z_k * f_k^c   (1)

Coming down, the image enters only through the switches: a net without max pooling (the
bundled EfficientNet-Lite0) projects the same pattern for every image; the "guided" rule
(notebook 05) also remembers where each ReLU was open.

Algorithm (feature visualisation #0): forward pass; pick a layer; keep one activation (or
one feature map) and zero the rest; go back down. Two forms here give the same numbers:

* ``DeconvNet``: the explicit mirror for ``nn.Sequential`` conv/ReLU/max-pool stacks
  (torchvision VGG and AlexNet ``.features``);
* ``project``: backprop through any network with the "deconvnet" ReLU rule of
  ``course_lib.hooks`` (slide "Saliency Maps #3": deconvolution is closely related to the
  derivative); it also runs on the bundled EfficientNet-Lite0.
"""
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from .attribution import (SHIFT, attribute, averaging_note, check_averaging, check_input, colour_image, evaluating,
                          method_title)
from .config import lecture_or_quick
from .display import show_images
from .hooks import RELU_BACKWARD_RULES
from .images import image_to_tensor, tensor_to_image
from .models import check_name
from .i18n import number, tr
from .samples import list_samples, sample_image


# ---- the three mirror operations ----------------------------------------------------

def unpool(z: torch.Tensor, switches: torch.Tensor, size) -> torch.Tensor:
    """Inverse max pooling (slide #4): each value goes back to the position of its max, the rest is 0.

    Values whose (overlapping) windows share a max are added, exactly as the gradient does.
    """
    N, C, H, W = size
    y = z.new_zeros(N, C, H * W)                                # [N, C, H*W]
    y.scatter_add_(2, switches.flatten(2), z.flatten(2))        # z, switches: [N, C, h*w]
    return y.view(N, C, H, W)


def deconvolve(z: torch.Tensor, conv: nn.Conv2d, size) -> torch.Tensor:
    """Formula (1), y^c = sum_k z_k * f_k^c: the layer's own filters, transposed (slide #3)."""
    out = [(z.shape[2 + d] - 1) * conv.stride[d] - 2 * conv.padding[d] + conv.dilation[d] * (conv.kernel_size[d] - 1) + 1
           for d in range(2)]
    extra = tuple(size[2 + d] - out[d] for d in range(2))  # rows/columns the strided forward pass skipped
    return F.conv_transpose2d(z, conv.weight, None, conv.stride, conv.padding, extra, conv.groups, conv.dilation)


def deconvolve_by_formula(z: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Formula (1) written out for stride 1, no padding: y^c = sum_k z_k * f_k^c with a full 2-D convolution.

    z: [N, K, h, w] feature maps, f: [K, C, kh, kw] filters -> [N, C, h + kh - 1, w + kw - 1].
    """
    K, C, kh, kw = f.shape
    full = (kh - 1, kw - 1)
    # a convolution (*) is a correlation with the filter flipped
    return torch.cat([sum(F.conv2d(z[:, k:k + 1], f[k:k + 1, c:c + 1].flip(2, 3), padding=full) for k in range(K))
                      for c in range(C)], dim=1)


def keep_unit(a: torch.Tensor, channel: int, keep: str = "max", at: torch.Tensor | None = None) -> torch.Tensor:
    """Keep one activation ("max": the strongest of ``channel``) or its whole map ("map"); zero the rest.

    Slide "Визуализация признаков #0". a: [N, C, h, w] (or [N, C]) -> same shape.
    ``at`` [N]: flat positions of the kept activations instead of each image's strongest one.
    """
    N, C = a.shape[:2]
    if not 0 <= channel < C:
        raise ValueError(tr("channel {channel} is out of range 0..{last} for this layer", channel=channel, last=C - 1))
    if keep not in ("max", "map"):
        raise ValueError(tr("keep must be 'max' (one activation) or 'map' (the whole feature map), got {keep!r}", keep=keep))
    a = a.detach()
    z = torch.zeros_like(a)
    if keep == "map":
        z[:, channel] = a[:, channel]
    else:
        a_c = a[:, channel].reshape(N, -1)                      # [N, h*w]
        j = a_c.argmax(dim=1) if at is None else at             # [N]
        z.view(N, C, -1)[torch.arange(N), channel, j] = a_c[torch.arange(N), j]
    return z


# ---- the explicit mirror ------------------------------------------------------------

class DeconvNet:
    """The deconvnet mirror of a conv/ReLU/max-pool ``nn.Sequential`` (slide: Deconvolutional networks #1)."""

    def __init__(self, features: nn.Sequential, names: dict | None = None):
        self.layers = list(features)
        for i, m in enumerate(self.layers):
            if not isinstance(m, (nn.Conv2d, nn.ReLU, nn.MaxPool2d)):
                raise ValueError(tr("layer {i} is a {kind}; the mirror knows Conv2d, ReLU and MaxPool2d only. "
                                    "Use deconvnet.project(model, ...) (the backprop form) for other networks", i=i, kind=type(m).__name__))
            if isinstance(m, nn.Conv2d) and (isinstance(m.padding, str) or m.padding_mode != "zeros"):
                raise ValueError(tr("layer {i}: only numeric zero padding is supported, got {padding!r}/{mode}", i=i, padding=m.padding, mode=m.padding_mode))
        self.names = dict(names) if names else {str(i): i for i in range(len(self.layers))}

    @classmethod
    def from_model(cls, model):
        """The mirror of ``model.net.features`` with the model's layer names (conv1_1, relu1_1, pool1 ...)."""
        features = getattr(model.net, "features", None)
        if not isinstance(features, nn.Sequential):
            raise ValueError(tr("{name} has no sequential `features` stack to mirror; "
                                "use deconvnet.project(model, ...), which works on any network", name=model.name))
        index = {id(m): i for i, m in enumerate(features)}
        return cls(features, {n: index[id(m)] for n, m in model.layers.items() if id(m) in index})

    def index(self, layer: str) -> int:
        check_name("layer", layer, self.names)
        return self.names[layer]

    @torch.no_grad()
    def forward(self, x: torch.Tensor, layer: str):
        """Up to and including ``layer``: its activation and the trace (input size, switches) per layer."""
        trace = []
        for m in self.layers[: self.index(layer) + 1]:
            size, switches = x.shape, None
            if isinstance(m, nn.MaxPool2d):
                x, switches = F.max_pool2d(x, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode, return_indices=True)
            elif isinstance(m, nn.ReLU):
                x = torch.relu(x)
            else:
                x = m(x)
            trace.append((size, switches))
        return x, trace

    @torch.no_grad()
    def backward(self, z: torch.Tensor, trace) -> torch.Tensor:
        """Down to pixels: unpool with the switches, rectify, apply the filters transposed."""
        for m, (size, switches) in zip(reversed(self.layers[: len(trace)]), reversed(trace)):
            if isinstance(m, nn.MaxPool2d):
                z = unpool(z, switches, size)   # slide #4
            elif isinstance(m, nn.ReLU):
                z = z.clamp(min=0)              # slide #2: the inverse of a ReLU is a ReLU
            else:
                z = deconvolve(z, m, size)      # slide #3, formula (1)
        return z

    def project(self, x: torch.Tensor, layer: str, channel: int, keep: str = "max") -> torch.Tensor:
        """Network input [N, 3, H, W] -> the projection of one unit or map of ``layer`` [N, 3, H, W]."""
        a, trace = self.forward(x, layer)
        return self.backward(keep_unit(a, channel, keep), trace)


# ---- the same projection as backprop with the deconvnet rule -------------------------

def project(model, x: torch.Tensor, layer: str, channel: int, keep: str = "max", method: str = "deconvnet",
            samples: int = 1, shift: int = SHIFT, noise: float = 0.0, seed: int = 0, batch: int = 4) -> torch.Tensor:
    """Deconvnet projection of ``layer``/``channel`` as backprop with the "deconvnet" ReLU rule (slide: Saliency Maps #3).

    ``model`` is a ``CourseModel`` (any of the course's networks); ``x`` a network input [N, 3, H, W].
    ``method`` swaps the ReLU rule ("guided": Springenberg et al.; "gradient": plain backprop).
    ``samples`` > 1: the mean over shifted (and, with ``noise``, noisy) copies, as in ``saliency.saliency``;
    with ``keep="max"`` every copy projects the same unit (the strongest on the image itself). ``batch``: images
    per forward/backward pass (at least one copy of all N), which bounds the memory (Binder: 2 GB).
    Returns the projection in input space, [N, 3, H, W].
    """
    model.layer(layer)  # a clear error for an unknown name, before any work
    if method not in RELU_BACKWARD_RULES:
        raise ValueError(tr("unknown method {method!r}; choose one of {methods}", method=method,
                            methods=", ".join(RELU_BACKWARD_RULES)))
    check_input(x)
    check_averaging(x, samples, shift, noise, batch)
    at = None
    if keep == "max" and samples > 1:       # the unit strongest on the image itself, the same one in every copy
        with evaluating(model.net), torch.no_grad():
            a = model.features(x.to(model.device), [layer])[layer]      # [N, C, h, w]
        keep_unit(a, channel)                                           # a clear error for a channel out of range
        at = a[:, channel].reshape(len(x), -1).argmax(dim=1)            # [N] its flat position

    def kept_unit(X):
        a = model.features(X, [layer])[layer]                           # [n*N, C, h, w]
        return a, keep_unit(a, channel, keep, None if at is None else at.repeat(len(X) // len(x)))

    return attribute(model.net, x, kept_unit, method, samples, shift, noise, seed, batch)


# ---- feature visualisation: top-k patches over the offline samples -------------------

@dataclass
class PatchConfig:
    """Settings of the top-k patch search (slides: Визуализация признаков #1-#3)."""

    size: int = lecture_or_quick(224, 96)               # side of each image in the pool, pixels
    crop_scales: tuple = lecture_or_quick((0.5,), ())   # also 4 corner + 1 centre crops of these fractions
    top_k: int = lecture_or_quick(9, 4)
    samples: tuple = field(default_factory=lambda: tuple(list_samples()))
    batch: int = 8                                      # images per forward pass
    project_batch: int = 3                              # images per projection (bounds memory on Binder)


def image_pool(config: PatchConfig | None = None):
    """The offline samples, square, plus crops of them: ([P, 3, S, S] in [0, 1], P labels)."""
    config = config or PatchConfig()
    S, images, labels = config.size, [], []
    for name in config.samples:
        image = sample_image(name)
        w, h = image.size
        side = min(w, h)
        square = image.crop(((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side))
        crops = [(name, square)]
        for s in config.crop_scales:
            c = round(side * s)
            corners = {tr("top left"): (0, 0), tr("top right"): (side - c, 0), tr("bottom left"): (0, side - c),
                       tr("bottom right"): (side - c, side - c), tr("centre"): ((side - c) // 2, (side - c) // 2)}
            crops += [(tr("{name} {where} x{zoom:g}", name=name, where=where, zoom=1 / s), square.crop((u, v, u + c, v + c)))
                      for where, (u, v) in corners.items()]
        for label, crop in crops:
            images.append(image_to_tensor(crop.resize((S, S), Image.LANCZOS)))  # [1, 3, S, S]
            labels.append(label)
    return torch.cat(images), labels  # [P, 3, S, S]


@dataclass
class Patch:
    """One of the top-k: an image patch and its projection."""

    value: float            # the activation a_c at its strongest position
    label: str              # which image of the pool
    image: Image.Image      # the patch of the image around the unit
    projection: Image.Image  # the same patch of its deconvnet projection


def top_patches(model, layer: str, channel: int, pool=None, config: PatchConfig | None = None,
                method: str = "deconvnet", **averaging) -> list:
    """The ``top_k`` images of the pool that excite ``channel`` of ``layer`` most, each cropped around the
    projection of its strongest unit, beside that projection (Zeiler & Fergus, slides: Визуализация признаков #1-#3).

    ``averaging``: ``samples``, ``shift``, ``noise``, ``seed`` of ``project``.
    """
    config = config or PatchConfig()
    images, labels = pool if pool is not None else image_pool(config)   # [P, 3, S, S] in [0, 1]
    a = pool_activations(model, layer, images, config.batch)              # [P, C, h, w]
    x = model.to_input(images)
    if not 0 <= channel < a.shape[1]:
        raise ValueError(tr("channel {channel} is out of range 0..{last} for layer {layer}", channel=channel,
                            last=a.shape[1] - 1, layer=layer))
    best = a[:, channel].reshape(len(a), -1).amax(dim=1)               # [P] max over positions
    top = best.topk(min(config.top_k, len(best))).indices
    chunks = top.split(config.project_batch)  # a few at a time: the backward graph grows with the batch
    R = torch.cat([project(model, x[t], layer, channel, "max", method, **averaging) for t in chunks])   # [k, 3, S, S]
    pictures = colour_image(R)
    patches = []
    for n, i in enumerate(top.tolist()):
        left, top, right, bottom = support_box(R[n])
        box = (slice(None), slice(top, bottom), slice(left, right))    # [3, H, W] -> [3, side, side]
        patches.append(Patch(best[i].item(), labels[i], _to_pil(images[i][box]), _to_pil(pictures[n][box])))
    return patches


_last_pool = {}  # one entry: when only the channel changes (the widget), the layer's activations are reused


def pool_activations(model, layer: str, images: torch.Tensor, batch: int = 16) -> torch.Tensor:
    """Activations of ``layer`` for a pool of images [P, 3, S, S] in [0, 1], computed in batches."""
    net, pool, name = _last_pool.get("key", (None, None, None))
    if not (net is model.net and pool is images and name == layer):
        with torch.no_grad(), evaluating(model.net):
            x = model.to_input(images)
            a = torch.cat([model.features(x[i:i + batch], [layer])[layer] for i in range(0, len(x), batch)])
        _last_pool.update(key=(model.net, images, layer), a=a)                                  # a: [P, C, h, w]
    return _last_pool["a"]


def support_box(R: torch.Tensor, min_side: int = 16) -> tuple:
    """(left, top, right, bottom): a square around the projection, centre +- 2 standard deviations of |R|."""
    M = R.abs().amax(dim=0)                                              # [H, W]
    H, W = M.shape
    if M.sum() == 0:
        return 0, 0, W, H
    p_y, p_x = M.sum(1) / M.sum(), M.sum(0) / M.sum()                    # [H], [W] marginals of the mass
    y, x = torch.arange(H, dtype=M.dtype, device=M.device), torch.arange(W, dtype=M.dtype, device=M.device)
    c_y, c_x = (p_y * y).sum(), (p_x * x).sum()
    spread = max((p_y * (y - c_y) ** 2).sum().sqrt(), (p_x * (x - c_x) ** 2).sum().sqrt())
    side = min(max(round(4 * spread.item()) + 1, min_side), H, W)
    top = min(max(round(c_y.item()) - side // 2, 0), H - side)
    left = min(max(round(c_x.item()) - side // 2, 0), W - side)
    return left, top, left + side, top + side


def show_projection(model, x: torch.Tensor, layer: str, channel: int, keep: str = "max", method: str = "deconvnet",
                    **averaging):
    """The image beside the deconvnet projection of ``layer``/``channel`` (slide: Визуализация признаков #0)."""
    R = project(model, x, layer, channel, keep, method, **averaging)
    what = (tr("{method}: {layer}, channel {channel}, strongest activation") if keep == "max"
            else tr("{method}: {layer}, channel {channel}, whole feature map"))
    title = what.format(method=method_title(method), layer=layer, channel=channel) + averaging_note(**averaging)
    return show_images([model.deprocess(x), colour_image(R)], [tr("image"), title], size=4)


def show_top_patches(patches: list, title: str = ""):
    """Projections (top row) above their image patches (bottom row), strongest first."""
    k = len(patches)
    return show_images([p.projection for p in patches] + [p.image for p in patches],
                       titles=[number(p.value, ".2f") for p in patches] + [p.label for p in patches],
                       ncols=k, size=2.0, suptitle=title)


def _to_pil(t: torch.Tensor) -> Image.Image:
    """[3, h, w] in [0, 1] -> PIL image, small patches enlarged to 96 px so they are visible."""
    return tensor_to_image(t).resize((96, 96), Image.NEAREST) if min(t.shape[1:]) < 96 else tensor_to_image(t)
