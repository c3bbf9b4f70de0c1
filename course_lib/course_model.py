"""A loaded network as the techniques see it: ``CourseModel`` (slide "CNN: a stack of layers").

One object per network: the frozen classifier S_c(x), its input scaling x in [0, 1] <-> (x - mean) / std
(both ways, so images go in and come back out), the ImageNet category names, and its layers by the
names the papers use (conv1_1, inception4c, block5, ...) with ``features`` = {l: F^l(x)}. Also the
readable check for a name a user typed (model, layer, class) and a channels-last context for speed.
``course_lib.models`` builds and loads these.
"""
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from PIL import Image

from .hooks import capture, run_until_captured
from .i18n import tr
from .images import image_to_tensor, load_image, tensor_to_image

CLASSIFY_SIZE = 224


class UnknownNameError(ValueError):
    """A model, layer or class name that does not exist; the message lists the valid ones."""


def check_name(kind: str, name, valid) -> None:
    if name not in valid:
        valid = list(valid)
        shown = ", ".join(map(str, valid[:60])) + (" ..." if len(valid) > 60 else "")
        raise UnknownNameError(tr("unknown {kind} {name}; valid {kind}s: {shown}", kind=tr(kind), name=repr(name),
                                  shown=shown))


@dataclass
class CourseModel:
    """A frozen classifier plus everything the techniques need to talk to it."""

    name: str
    net: nn.Module                         # the plain classifier: net(x) -> [N, 1000] class scores S_c
    layers: dict                           # {user-facing layer name: module}, in forward order
    mean: torch.Tensor                     # input = (x - mean) / std for x in [0, 1]
    std: torch.Tensor
    categories: list = field(repr=False)   # the 1000 ImageNet class names

    def __repr__(self):
        return f"CourseModel({self.name!r}, {len(self.layers)} layers, device={self.device})"

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @property
    def layer_names(self) -> list:
        return list(self.layers)

    # ---- input scaling: x in [0, 1] <-> network input ---------------------------------
    def to_input(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] in [0, 1] -> what the network was trained on (differentiable)."""
        return (x.to(self.device) - self.mean) / self.std

    def from_input(self, t: torch.Tensor) -> torch.Tensor:
        """Inverse of ``to_input``: network input -> [N, 3, H, W] in [0, 1] (not clipped)."""
        return t * self.std + self.mean

    def preprocess(self, image, size: int | None = None) -> torch.Tensor:
        """Any image source -> network input [1, 3, H, W]; ``size`` bounds the long side."""
        return self.to_input(image_to_tensor(load_image(image, max_size=size)))

    def deprocess(self, t: torch.Tensor) -> Image.Image:
        """Network input [1, 3, H, W] -> PIL image; undoes ``preprocess`` up to uint8 rounding."""
        return tensor_to_image(self.from_input(t.detach()))

    # ---- looking inside ------------------------------------------------------------
    def layer(self, name: str) -> nn.Module:
        check_name("layer", name, self.layers)
        return self.layers[name]

    def features(self, x: torch.Tensor, layers) -> dict:
        """{name: activation} of the named layers for network input ``x`` (graph kept for autograd).

        The forward pass stops after the deepest requested layer.
        """
        layers = [layers] if isinstance(layers, str) else list(layers)
        for name in layers:
            check_name("layer", name, self.layers)
        with capture({n: self.layers[n] for n in layers}, stop_early=True) as out:
            run_until_captured(self.net, x.to(self.device))
        return {n: out[n] for n in layers}

    def class_index(self, target) -> int:
        """A class index from an index or a category name (case-insensitive)."""
        if isinstance(target, str):
            lowered = [c.lower() for c in self.categories]
            check_name("class", target.lower(), lowered)
            return lowered.index(target.lower())
        index = int(target)
        if not 0 <= index < len(self.categories):
            raise UnknownNameError(tr("class index {index} is out of range 0..{last}", index=index,
                                      last=len(self.categories) - 1))
        return index

    @torch.no_grad()
    def classify(self, image, k: int = 5) -> list:
        """Top-k [(category, probability)] for an image: short side to 224, centre crop."""
        image = load_image(image)
        w, h = image.size
        scale = CLASSIFY_SIZE / min(w, h)
        image = image.resize((max(CLASSIFY_SIZE, round(w * scale)), max(CLASSIFY_SIZE, round(h * scale))), Image.BICUBIC)
        w, h = image.size
        left, top = (w - CLASSIFY_SIZE) // 2, (h - CLASSIFY_SIZE) // 2
        image = image.crop((left, top, left + CLASSIFY_SIZE, top + CLASSIFY_SIZE))
        probs = self.net(self.preprocess(image)).softmax(dim=1)[0]
        top = probs.topk(k)
        return [(self.categories[i], p.item()) for p, i in zip(top.values, top.indices)]


def course_model(model, who: str) -> "CourseModel":
    """``model`` itself when it is a ``CourseModel``, else a readable TypeError naming the function ``who``."""
    if not isinstance(model, CourseModel):
        raise TypeError(tr("{who} needs a course model (load_model(...)), got {kind}", who=who, kind=type(model).__name__))
    return model


@contextmanager
def channels_last(net):
    """Run ``net`` with its 4-d weights stored channels-last ([C_out, k, k, C_in] in memory), then restore them.

    Only the memory layout changes, not a single value: on a CPU the convolutions (forward and
    backward) then run faster (measured by ``python -m benchmarks dream``, ``style``). The weights are put
    back on the way out (the same tensors), also after an exception.
    """
    originals = {name: p.data for name, p in net.named_parameters() if p.dim() == 4}
    net.to(memory_format=torch.channels_last)            # copies: the originals stay untouched
    try:
        yield net
    finally:
        for name, p in net.named_parameters():
            if name in originals:
                p.data = originals[name]                  # the very tensors it had before

