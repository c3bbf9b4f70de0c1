"""How to speed it up: a feed-forward network per style (slides "Artistic Style #8-#9: как ускорить?").

Johnson, Alahi, Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and Super-Resolution", ECCV 2016;
Ulyanov, Lebedev, Vedaldi, Lempitsky, "Texture Networks", ICML 2016, and "Instance Normalization", 2016.

Gatys et al. optimise the pixels x for every new photo: hundreds of forward and backward
passes. Here a transformer network y = f_W(c) (``fast_style_net``) is trained once per style
image a, on random crops of many photos c, with the perceptual loss of slide #7
(``fast_style_losses``):

    min_W  E_c [ alpha L_content(f_W(c), c) + beta L_style(a, f_W(c)) + delta L_colour(a, f_W(c)) + gamma TV(f_W(c)) ]

after which stylising any photo is a single forward pass. This module is the driver: the
settings, the training images, ``train``, checkpoints (``save``/``load``, the shipped styles) and
the measurements of notebook 07.
"""
import copy
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F_
from PIL import Image

from . import style as gatys
from .config import lecture_or_quick
from .fast_style_losses import (COLOURS, colour_directions, colour_loss, perceptual_loss,  # noqa: F401 (public
                                sorted_colours, style_grams)                              # here too, as before)
from .fast_style_net import TransformerNet
from .i18n import tr
from .images import ImageError, image_to_tensor, load_image, tensor_to_image
from .models import check_name, load_model
from .progress import Optimisation
from .samples import list_samples, sample_image
from .style_losses import style_loss

SHIPPED = Path(__file__).parent / "shipped"
FORMAT = "course_lib.fast_style/1"
NB06_LAYERS = gatys.DEFAULT_LAYERS["efficientnet_lite0"]  # (content, style, beta/alpha) of notebook 06
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


class CheckpointError(ValueError):
    """A file that is not a fast-style checkpoint of this course (or is damaged)."""


@dataclass
class FastStyleConfig:
    """Training settings; stored in every checkpoint with the architecture (channels, residual_blocks).

    Layers and layer weights are notebook 06's. beta/alpha is smaller than Gatys's: f_W starts random and
    must learn to keep the photo's layout, where Gatys starts x at the photo. ``train`` ramps delta up from 0
    over the first half of the steps: at full weight from the start L_colour can invert the photo.
    (How the weights were chosen: benchmarks/bench_fast_style.py.)
    """

    steps: int = lecture_or_quick(300, 8)
    size: int = lecture_or_quick(128, 64)           # side of the square training crops
    batch: int = 2
    lr: float = 3e-3
    alpha: float = 1.0                                # content weight
    beta: float = 1e3                                 # style weight
    gamma: float = 10.0                               # total-variation weight
    delta: float = 4e6                                # weight of L_colour, the sliced Wasserstein distance of the colours
    content_layers: dict = field(default_factory=lambda: {l: 1.0 for l in NB06_LAYERS[0]})
    style_layers: dict = field(default_factory=lambda: {l: 1 / len(NB06_LAYERS[1]) for l in NB06_LAYERS[1]})
    channels: tuple = (16, 32, 64)
    residual_blocks: int = 5
    seed: int = 0


# ---- the training set: random crops, flips and scales of photos ------------------------------

class TrainingImages:
    """The sample photos (and any folder of the user's images), cut into random square crops."""

    def __init__(self, folder=None, samples=True, max_size=512):
        self.photos = [image_to_tensor(sample_image(n, max_size)) for n, k in list_samples().items() if samples and k == "photo"]
        if folder is not None:
            self.photos += _folder_images(Path(folder).expanduser(), max_size)
        if not self.photos:
            raise ImageError(tr("no training images: use the sample photos or give a folder with images"))

    def batch(self, n: int, size: int, generator: torch.Generator) -> torch.Tensor:
        """[n, 3, size, size]: a random photo, a crop of 40-100% of its short side, maybe mirrored."""
        crops = []
        for _ in range(n):
            x = self.photos[_randint(len(self.photos), generator)]  # [1, 3, H, W]
            H, W = x.shape[-2:]
            side = max(8, round(min(H, W) * (0.4 + 0.6 * torch.rand(1, generator=generator).item())))
            top, left = _randint(H - side + 1, generator), _randint(W - side + 1, generator)
            crop = F_.interpolate(x[..., top:top + side, left:left + side], size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            crops.append(crop.flip(-1) if _randint(2, generator) else crop)
        return torch.cat(crops).clamp(0, 1)


def _randint(n, generator):
    return int(torch.randint(n, (1,), generator=generator))


def _folder_images(folder: Path, max_size: int) -> list:
    if not folder.is_dir():
        raise ImageError(tr("no such folder: {folder}", folder=folder))
    images = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        try:
            images.append(image_to_tensor(load_image(path, max_size=max_size)))
        except ImageError as e:
            warnings.warn(tr("skipped a training image: {error}", error=e), stacklevel=3)
    if not images:
        raise ImageError(tr("{folder} holds no readable images ({suffixes})", folder=folder, suffixes=", ".join(sorted(IMAGE_SUFFIXES))))
    return images


# ---- a trained style: train, stylise, save, load -----------------------------------------

@dataclass
class FastStyle:
    """A trained transformer network for one style, with the settings it was trained with."""

    name: str
    net: TransformerNet
    config: FastStyleConfig
    history: list = field(default_factory=list, repr=False)

    @torch.no_grad()
    def stylise(self, image, size=None, blend: float = 1.0) -> Image.Image:
        """One forward pass y = f_W(c), mixed with the photo: blend * y + (1 - blend) * c (slide #8)."""
        if not 0 <= blend <= 1:
            raise ValueError(tr("blend must be between 0 (the photo) and 1 (fully stylised), got {blend}", blend=blend))
        c = image_to_tensor(load_image(image, max_size=size)).to(next(self.net.parameters()).device)
        y = self.net.eval()(c)
        return tensor_to_image(blend * y + (1 - blend) * c)

    def save(self, path) -> Path:
        """A checkpoint that ``load`` reads with ``torch.load(weights_only=True)``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}
        torch.save({"format": FORMAT, "name": self.name, "config": asdict(self.config), "state_dict": state,
                    "history": [float(h) for h in self.history]}, path)
        return path


def train(style, config=None, name=None, folder=None, model=None, live=False, quiet=False) -> FastStyle:
    """Train f_W for the style image ``style`` on random crops of photos (slide #8; Johnson et al.)."""
    config = config or FastStyleConfig()
    model = model or load_model(device="cpu")
    if isinstance(style, str) and name is None and style in list_samples():
        name = style
    style = sample_image(style) if isinstance(style, str) and style in list_samples() else load_image(style)
    for layer in [*config.content_layers, *config.style_layers]:
        model.layer(layer)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    images = TrainingImages(folder)
    grams = style_grams(model, style, config.size, config.style_layers)
    net = TransformerNet(config.channels, config.residual_blocks).to(model.device)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)
    good = copy.deepcopy(net.state_dict())
    with Optimisation(config.steps, tr("training '{name}'", name=name or tr("custom")), live=live, live_every=25,
                      to_image=tensor_to_image, quiet=quiet) as run:
        for step in range(config.steps):
            c = images.batch(config.batch, config.size, generator).to(model.device)  # [B, 3, size, size]
            y = net(c)
            # L_colour ramps up over the first half: at full weight from the start f_W can settle on the photo inverted
            delta = config.delta * min(1.0, 2 * step / config.steps)
            loss, _, _ = perceptual_loss(model, y, c, grams, config, delta)
            if not run.step(loss.detach(), y[:1]):
                net.load_state_dict(good)  # the weights before the step that diverged
                break
            good = copy.deepcopy(net.state_dict())
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return FastStyle(name or "custom", net.eval(), config, run.history)


def load(path) -> FastStyle:
    """Read a checkpoint written by ``FastStyle.save`` (``weights_only=True``: no code is run)."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(tr("no such checkpoint: {path}", path=path)) from None
    except Exception as e:  # pickle errors, truncated zip files, ...
        raise CheckpointError(tr("{path} is not a readable checkpoint ({error})", path=path, error=f"{type(e).__name__}: {e}")) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(tr("{path} is not a fast-style checkpoint of this course (format {format})", path=path, format=FORMAT))
    config = FastStyleConfig(**{"delta": 0.0, **data["config"]})  # checkpoints older than L_colour were trained without it
    net = TransformerNet(tuple(config.channels), config.residual_blocks)
    try:
        net.load_state_dict(data["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(tr("{path}: the weights do not fit the stored architecture ({error})", path=path, error=e)) from None
    return FastStyle(data["name"], net.eval(), config, list(data.get("history", [])))


def shipped_styles() -> list:
    """Names of the styles trained by ``tools/train_fast_style.py`` and shipped with the package."""
    return sorted(p.stem for p in SHIPPED.glob("*.pth"))


def load_shipped(name: str) -> FastStyle:
    check_name("shipped style", name, shipped_styles())
    return load(SHIPPED / f"{name}.pth")


# ---- measurements of notebook 07 ------------------------------------------------------------

def style_loss_of(model, image, style, config=None, size=None) -> float:
    """L_style(a, x) of one image against a style image, both at long side ``size`` (slide #5)."""
    config = config or FastStyleConfig()
    x = model.preprocess(image, size)
    grams = style_grams(model, style, size or max(x.shape[-2:]), config.style_layers)
    with torch.no_grad():
        F = model.features(x, list(config.style_layers))
        A = {l: grams[l] * (F[l].shape[-2] * F[l].shape[-1]) for l in config.style_layers}
        return float(style_loss(F, A, config.style_layers))


def colour_loss_of(image, style, size: int) -> float:
    """L_colour(a, x) of one image against a style image, both at long side ``size``."""
    x, a = (image_to_tensor(load_image(im, max_size=size)) for im in (image, style))  # [1, 3, H, W] in [0, 1]
    return float(colour_loss(x, sorted_colours(a[0].flatten(1))))


def time_against_gatys(fast: FastStyle, content, style, size: int, model=None, **gatys_kwargs) -> dict:
    """Seconds for Gatys' optimisation (notebook 06 defaults) and for one forward pass, same image and size (slide #9)."""
    model = model or load_model(device="cpu")
    start = time.perf_counter()
    gatys_image, _ = gatys.transfer(content, style, model=model, size=size, **gatys_kwargs)
    t_gatys = time.perf_counter() - start
    start = time.perf_counter()
    fast_image = fast.stylise(content, size=size)
    t_fast = time.perf_counter() - start
    return {"gatys_s": t_gatys, "fast_s": t_fast, "ratio": t_gatys / t_fast, "gatys_image": gatys_image, "fast_image": fast_image}
