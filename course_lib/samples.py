"""Images that work offline: scikit-image's photos, the generated styles, and the paintings.

``sample_image(name)`` gives any of them; a painting (``starry_night``, ...) is downloaded from
Wikimedia Commons once (``./run.sh fetch`` does it ahead) and, offline, replaced by its generated
stand-in from ``generated_art`` with one printed line saying so.
"""
import os

import skimage.data
import torch
from PIL import Image

from .assets import IMAGE_MAX_BYTES, PAINTINGS, DownloadError, download, painting_path
from .generated_art import STYLE_IMAGES
from .i18n import tr
from .images import ImageError, decode, image_to_tensor, load_image, resize_long_side

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera")
PAINTING_TIMEOUT_S = 10         # a painting that cannot start downloading gives way to its fallback
PAINTING_DEADLINE_S = 60        # a download that crawls too
_unavailable = {}               # {painting: reason}: tried once this session; offline, do not wait again


def list_samples() -> dict:
    """{name: 'photo' | 'style'} for every image that works offline."""
    return {**{name: "photo" for name in PHOTOS}, **{name: "style" for name in STYLE_IMAGES}}


def list_paintings() -> dict:
    """{name: title} of the paintings ``sample_image`` downloads from Wikimedia Commons (``./run.sh fetch``)."""
    return {name: p.title for name, p in PAINTINGS.items()}


def sample_image(name: str, max_size: int | None = None) -> Image.Image:
    """A sample: a photo from scikit-image, a style image generated here, or a painting (see ``painting``)."""
    if name in PHOTOS:
        image = load_image(getattr(skimage.data, name)())
    elif name in STYLE_IMAGES:
        image = STYLE_IMAGES[name]()
    elif name in PAINTINGS:
        image = painting(name)
    else:
        raise ImageError(tr("no sample called {name}; samples: {samples}; paintings (downloaded once): {paintings}",
                            name=repr(name), samples=", ".join(list_samples()), paintings=", ".join(list_paintings())))
    return resize_long_side(image, max_size) if max_size else image


def painting(name: str, fallback: bool = True) -> Image.Image:
    """A public-domain painting from the cache; downloaded on first use.

    Offline (or with ``COURSE_LIB_OFFLINE=1``) it gives the painting's generated stand-in from
    ``generated_art`` and prints one line saying so; ``fallback=False`` raises ``ImageError`` instead.
    """
    if name not in PAINTINGS:
        raise ImageError(tr("no painting called {name}; paintings: {paintings}", name=repr(name), paintings=", ".join(PAINTINGS)))
    path = painting_path(name)
    try:
        if path.exists():
            return load_image(path)
        if os.environ.get("COURSE_LIB_OFFLINE"):
            raise ImageError(tr("offline: COURSE_LIB_OFFLINE is set"))
        if name in _unavailable:
            raise ImageError(_unavailable[name])
        try:
            _fetch_painting(name)
        except (DownloadError, ImageError) as e:
            _unavailable[name] = str(e)
            raise ImageError(_unavailable[name]) from None
        return load_image(path)
    except ImageError as e:
        if not fallback:
            raise
        stand_in = PAINTINGS[name].fallback
        print(tr("{name}: not available ({reason}); using the generated '{stand_in}' instead "
                 "(`./run.sh fetch {name}` once online)", name=name, reason=str(e)[:120], stand_in=stand_in))
        return STYLE_IMAGES[stand_in]()


def _fetch_painting(name: str) -> None:
    """Download a painting into the cache (byte cap, deadline; atomic), quietly."""
    path = painting_path(name)
    part = download(PAINTINGS[name].url, path, IMAGE_MAX_BYTES, timeout=PAINTING_TIMEOUT_S,
                    deadline_s=PAINTING_DEADLINE_S)
    try:
        decode(part.read_bytes(), PAINTINGS[name].url)   # a web page or a truncated file is refused here
    except ImageError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, path)


# ---- the image and baseline arguments of the attribution methods -----------------------

def image_tensor(image, size: int | None = None) -> torch.Tensor:
    """[1, 3, H, W] in [0, 1] from a sample name, a path, a PIL image or such a tensor (used as it is).

    ``size`` bounds the long side of an image that is loaded (a tensor keeps its size)."""
    if isinstance(image, torch.Tensor):
        if image.dim() != 4 or image.shape[:2] != (1, 3) or not image.is_floating_point():
            raise ImageError(tr("an image tensor must be one float image [1, 3, H, W] in [0, 1], got shape {shape}",
                                shape=list(image.shape)))
        if image.min() < -1e-3 or image.max() > 1 + 1e-3:
            raise ImageError(tr("an image tensor must hold values in [0, 1] (not a network input: use "
                                "model.from_input(x)), got {lo:.2f}..{hi:.2f}", lo=image.min().item(), hi=image.max().item()))
        return image.detach().float()
    if isinstance(image, str) and image in list_samples():
        return image_to_tensor(sample_image(image, size))
    return image_to_tensor(load_image(image, max_size=size))


def baseline_tensor(baseline, like: torch.Tensor) -> torch.Tensor:
    """The reference image x' shaped like ``like`` [1, 3, H, W]: a grey level in [0, 1] (0: black) or an image tensor."""
    if isinstance(baseline, torch.Tensor):
        if baseline.dim() == 0:
            baseline = baseline.item()
        elif baseline.shape[-2:] != like.shape[-2:] or baseline.dim() not in (3, 4):
            raise ImageError(tr("the baseline image must have the image's size {size}, got shape {shape}",
                                size=list(like.shape[-2:]), shape=list(baseline.shape)))
        else:
            return baseline.detach().float().to(like.device).expand_as(like)
    if isinstance(baseline, bool) or not isinstance(baseline, (int, float)) or not 0 <= baseline <= 1:
        raise ImageError(tr("baseline must be a grey level in [0, 1] (0 black, 0.5 grey) or an image tensor, got {value}",
                            value=repr(baseline)))
    return torch.full_like(like, float(baseline))


def side_by_side(*images, height: int = 224) -> Image.Image:
    """One picture of several images placed left to right, each scaled to ``height`` px (a composite scene)."""
    pictures = [load_image(sample_image(i) if isinstance(i, str) and i in list_samples() else i) for i in images]
    pictures = [p.resize((max(1, round(p.width * height / p.height)), height), Image.LANCZOS) for p in pictures]
    canvas = Image.new("RGB", (sum(p.width for p in pictures), height))
    left = 0
    for p in pictures:
        canvas.paste(p, (left, 0))
        left += p.width
    return canvas
