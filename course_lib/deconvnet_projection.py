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

The top-k patches of a unit beside their projections (feature visualisation #1-#3) are ``deconvnet.py``,
which re-exports everything here.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .attribution import (SHIFT, attribute, averaging_note, check_averaging, check_input, colour_image, evaluating,
                          method_title)
from .display import show_images
from .hooks import RELU_BACKWARD_RULES
from .models import check_name
from .i18n import tr


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


def show_projection(model, x: torch.Tensor, layer: str, channel: int, keep: str = "max", method: str = "deconvnet",
                    **averaging):
    """The image beside the deconvnet projection of ``layer``/``channel`` (slide: Визуализация признаков #0)."""
    R = project(model, x, layer, channel, keep, method, **averaging)
    what = (tr("{method}: {layer}, channel {channel}, strongest activation") if keep == "max"
            else tr("{method}: {layer}, channel {channel}, whole feature map"))
    title = what.format(method=method_title(method), layer=layer, channel=channel) + averaging_note(**averaging)
    return show_images([model.deprocess(x), colour_image(R)], [tr("image"), title], size=4)
