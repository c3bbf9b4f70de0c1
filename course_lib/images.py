"""The one way to load images in this course, and tensor <-> image conversion.

``load_image`` turns a path, URL, bytes, PIL image or numpy array into an RGB PIL image,
or raises ``ImageError`` with a sentence a student can act on. Images are checked for
their pixel count *before* decoding, so a decompression bomb is refused at once.
"""
import hashlib
import http.client
import io
import os
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .i18n import tr

MAX_PIXELS = 64_000_000          # refuse larger images before decoding them
MAX_DOWNLOAD_BYTES = 40_000_000  # stop downloads beyond this
DOWNLOAD_TIMEOUT_S = 15         # the longest silence allowed from a server
DOWNLOAD_DEADLINE_S = 60        # the whole download: connecting, redirects and every byte


class ImageError(ValueError):
    """An image could not be loaded; the message says why in plain words."""


def cache_dir() -> Path:
    root = os.environ.get("COURSE_LIB_CACHE") or Path.home() / ".cache" / "course_lib"
    return Path(root)


def load_image(source, max_size: int | None = None) -> Image.Image:
    """An RGB PIL image from a path, http(s) URL, bytes, PIL image or numpy array.

    ``max_size`` shrinks the image so that its long side is at most that many pixels.
    """
    if isinstance(source, Image.Image):
        image = _to_rgb(source)
    elif isinstance(source, np.ndarray):
        image = _from_array(source)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        image = _decode(bytes(source), tr("the given bytes"))
    elif isinstance(source, (str, os.PathLike)):
        text = str(source)
        if text.startswith(("http://", "https://")):
            image = _decode(_download(text), text)
        else:
            image = _decode(_read_file(Path(text).expanduser()), text)
    else:
        raise ImageError(tr("cannot load an image from a {kind}; give a path, URL, bytes, PIL image or numpy array",
                            kind=type(source).__name__))
    if max_size is not None:
        image = resize_long_side(image, max_size)
    return image


def resize_long_side(image: Image.Image, size: int) -> Image.Image:
    """Resize so that the long side is ``size`` pixels (keeps the aspect ratio; shrinks or grows)."""
    if size < 1:
        raise ImageError(tr("max_size must be a positive number of pixels, got {size}", size=size))
    w, h = image.size
    scale = size / max(w, h)
    if scale == 1:
        return image
    return image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)


def _read_file(path: Path) -> bytes:
    if not path.exists():
        raise ImageError(tr("no such file: {path}", path=path))
    if path.is_dir():
        raise ImageError(tr("{path} is a folder, not an image file", path=path))
    try:
        return path.read_bytes()
    except OSError as e:
        raise ImageError(tr("cannot read {path}: {reason}", path=path, reason=e.strerror or e)) from None


def _download(url: str) -> bytes:
    """The bytes at ``url`` (cached on disk), within ``DOWNLOAD_DEADLINE_S`` seconds in all.

    A socket timeout only bounds each read: a server that drips one byte every second would
    keep it waiting for ever. So the body is read in chunks against one deadline, redirects
    are checked against it too, and the per-read timeout never exceeds it.
    """
    cached = cache_dir() / "downloads" / hashlib.sha256(url.encode()).hexdigest()[:24]
    if cached.exists():
        return cached.read_bytes()
    deadline = DOWNLOAD_DEADLINE_S
    end = time.monotonic() + deadline
    too_slow = tr("download stopped: {url} did not arrive within the {seconds:g} s allowed for a "
                  "download; the server is too slow. Try a sample image or a local file", url=url, seconds=deadline)
    opener = urllib.request.build_opener(_RedirectWithinDeadline(end, too_slow))
    chunks, size = [], 0
    try:
        with opener.open(url, timeout=min(DOWNLOAD_TIMEOUT_S, deadline)) as response:
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > MAX_DOWNLOAD_BYTES:
                raise ImageError(tr("download refused: {url} is larger than {mb} MB", url=url, mb=MAX_DOWNLOAD_BYTES // 1_000_000))
            while size <= MAX_DOWNLOAD_BYTES:
                if time.monotonic() > end:
                    raise ImageError(tr("{message} ({size:,} bytes received)", message=too_slow, size=size))
                chunk = response.read1(1 << 16)      # returns what one read gives: the deadline is checked often
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except ImageError:
        raise
    except urllib.error.HTTPError as e:
        if 300 <= e.code < 400:
            raise ImageError(tr("download failed: {url} redirects in a loop (or too many times)", url=url)) from None
        raise ImageError(tr("download failed: {url} answered HTTP {code} {reason}", url=url, code=e.code, reason=e.reason)) from None
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as e:
        if time.monotonic() > end:
            raise ImageError(too_slow) from None
        reason = getattr(e, "reason", e)
        raise ImageError(tr("download failed: {url} ({reason}); are you offline? Try a sample image or a local file",
                            url=url, reason=reason)) from None
    data = b"".join(chunks)
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise ImageError(tr("download refused: {url} is larger than {mb} MB", url=url, mb=MAX_DOWNLOAD_BYTES // 1_000_000))
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(cached)  # atomic: a half-written file is never taken for a cached image
    return data


class _RedirectWithinDeadline(urllib.request.HTTPRedirectHandler):
    """urllib's redirects (at most 10, loops refused), each one checked against the deadline."""

    def __init__(self, end: float, too_slow: str):
        self.end, self.too_slow = end, too_slow

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if time.monotonic() > self.end:
            raise ImageError(self.too_slow)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _decode(data: bytes, where: str) -> Image.Image:
    if not data:
        raise ImageError(tr("{where} is empty (0 bytes)", where=where))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))  # reads the header only
            w, h = image.size
            if w * h > MAX_PIXELS:
                raise ImageError(tr("{where} is {w}x{h} = {megapixels} megapixels, more than the {allowed} allowed; "
                                    "shrink it first", where=where, w=w, h=h, megapixels=f"{w * h / 1e6:.0f}",
                                    allowed=f"{MAX_PIXELS / 1e6:.0f}"))
            if getattr(image, "is_animated", False):
                image.seek(0)  # animated GIF/PNG/WebP: the first frame
            if image.format == "JPEG":
                image.draft("RGB", (w, h))
            image.load()
            image = ImageOps.exif_transpose(image)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(tr("{where} is not an image format Pillow can read", where=where)) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(tr("{where} is too large to decode safely (decompression bomb protection)", where=where)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(tr("{where} is damaged or truncated ({reason})", where=where, reason=e)) from None
    return _to_rgb(image)


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB for every mode: transparency goes on white, 16-bit and float are rescaled."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "P" and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return _from_array(np.asarray(image))
    return image.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV


def _from_array(array: np.ndarray) -> Image.Image:
    """Image from HxW, HxWx1, HxWx3 or HxWx4 arrays: uint8, integers or floats."""
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or 0 in a.shape:
        raise ImageError(tr("an image array must be HxW, HxWx3 or HxWx4, got shape {shape}", shape=a.shape))
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif a.dtype != np.uint8:
        a = a.astype(np.float64)
        if not np.isfinite(a).all():
            raise ImageError(tr("the image array contains NaN or infinite values"))
        if np.issubdtype(array.dtype, np.floating) and a.min() >= 0 and a.max() <= 1:
            a = a * 255  # floats in [0, 1]
        elif a.max() > 255 or a.min() < 0:
            lo, hi = a.min(), a.max()  # 16-bit or arbitrary range: stretch to 0..255
            a = (a - lo) / max(hi - lo, 1e-12) * 255
        a = np.clip(np.round(a), 0, 255).astype(np.uint8)
    image = Image.fromarray(a)
    return _to_rgb(image)


# ---- tensors -------------------------------------------------------------------------

def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL image -> float tensor [1, 3, H, W] in [0, 1]."""
    a = np.asarray(load_image(image), dtype=np.float32) / 255.0  # [H, W, 3]
    return torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0).contiguous()


def tensor_to_image(x: torch.Tensor) -> Image.Image:
    """Float tensor [1, 3, H, W] or [3, H, W] in [0, 1] -> PIL image (clipped, rounded)."""
    x = x.detach().float().cpu()
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise ValueError(tr("expected one image, got a batch of {n}", n=x.shape[0]))
        x = x[0]
    if x.dim() != 3 or x.shape[0] not in (1, 3):
        raise ValueError(tr("expected a tensor [3, H, W], got shape {shape}", shape=list(x.shape)))
    a = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(a if a.shape[2] == 3 else a[..., 0]).convert("RGB")


# ---- offline samples -----------------------------------------------------------------

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera")


def list_samples() -> dict:
    """{name: 'photo' | 'style'} for every image that works offline."""
    from .generated_art import STYLE_IMAGES

    return {**{name: "photo" for name in PHOTOS}, **{name: "style" for name in STYLE_IMAGES}}


def sample_image(name: str, max_size: int | None = None) -> Image.Image:
    """A sample: a photo from scikit-image, a style image generated here, or a painting (see ``painting``)."""
    from .generated_art import STYLE_IMAGES

    if name in PHOTOS:
        import skimage.data

        image = load_image(getattr(skimage.data, name)())
    elif name in STYLE_IMAGES:
        image = STYLE_IMAGES[name]()
    elif name in list_paintings():
        image = painting(name)
    else:
        raise ImageError(tr("no sample called {name}; samples: {samples}; paintings (downloaded once): {paintings}",
                            name=repr(name), samples=", ".join(list_samples()), paintings=", ".join(list_paintings())))
    return resize_long_side(image, max_size) if max_size else image


# ---- public-domain paintings (downloaded once, generated style offline) ------------------

PAINTING_TIMEOUT_S = 10         # a painting that cannot start downloading gives way to its fallback
PAINTING_DEADLINE_S = 60        # a download that crawls too
_unavailable = {}               # {painting: reason}: tried once this session; offline, do not wait again


def list_paintings() -> dict:
    """{name: title} of the paintings ``sample_image`` downloads from Wikimedia Commons (``./run.sh fetch``)."""
    from .fetch import PAINTINGS

    return {name: p.title for name, p in PAINTINGS.items()}


def painting(name: str, fallback: bool = True) -> Image.Image:
    """A public-domain painting from the cache; downloaded on first use (``./run.sh fetch`` does it ahead).

    Offline (or with ``COURSE_LIB_OFFLINE=1``) it gives the painting's generated stand-in from
    ``generated_art`` and prints one line saying so; ``fallback=False`` raises ``ImageError`` instead.
    """
    from .fetch import PAINTINGS, FetchError, fetch_one, painting_path

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
        except (FetchError, ImageError) as e:
            _unavailable[name] = f"download failed: {e}"
            raise ImageError(_unavailable[name]) from None
        return load_image(path)
    except ImageError as e:
        if not fallback:
            raise
        stand_in = PAINTINGS[name].fallback
        print(tr("{name}: not available ({reason}); using the generated '{stand_in}' instead "
                 "(`./run.sh fetch {name}` once online)", name=name, reason=str(e)[:120], stand_in=stand_in))
        from .generated_art import STYLE_IMAGES

        return STYLE_IMAGES[stand_in]()


def _fetch_painting(name: str) -> None:
    """Download a painting into the cache (timeout, byte cap, deadline; atomic), quietly."""
    from . import fetch

    path = fetch.painting_path(name)
    part = fetch.download(fetch.PAINTINGS[name].url, path, MAX_DOWNLOAD_BYTES, label=name,
                          timeout=PAINTING_TIMEOUT_S, deadline_s=PAINTING_DEADLINE_S, progress=False, out=lambda _: None)
    try:
        _decode(part.read_bytes(), fetch.PAINTINGS[name].url)   # a web page or a truncated file is refused here
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
