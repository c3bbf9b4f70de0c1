"""The one way to load images in this course, and tensor <-> image conversion.

(The sample photos, generated styles and paintings are in ``samples``; downloads in ``assets``.)

``load_image`` turns a path, URL, bytes, PIL image or numpy array into an RGB PIL image,
or raises ``ImageError`` with a sentence a student can act on. Images are checked for
their pixel count *before* decoding, so a decompression bomb is refused at once.
"""
import hashlib
import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from .assets import IMAGE_MAX_BYTES, DownloadError, cache_dir, download
from .i18n import tr

MAX_PIXELS = 64_000_000          # refuse larger images before decoding them
MAX_DOWNLOAD_BYTES = IMAGE_MAX_BYTES
DOWNLOAD_TIMEOUT_S = 15         # the longest silence allowed from a server
DOWNLOAD_DEADLINE_S = 60        # the whole download: connecting, redirects and every byte


class ImageError(ValueError):
    """An image could not be loaded; the message says why in plain words."""


def load_image(source, max_size: int | None = None) -> Image.Image:
    """An RGB PIL image from a path, http(s) URL, bytes, PIL image or numpy array.

    ``max_size`` shrinks the image so that its long side is at most that many pixels.
    """
    if isinstance(source, Image.Image):
        image = _to_rgb(source)
    elif isinstance(source, np.ndarray):
        image = _from_array(source)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        image = decode(bytes(source), tr("the given bytes"))
    elif isinstance(source, (str, os.PathLike)):
        text = str(source)
        if text.startswith(("http://", "https://")):
            image = decode(_download(text), text)
        else:
            image = decode(_read_file(Path(text).expanduser()), text)
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
    """The bytes at ``url``, cached on disk, within ``DOWNLOAD_DEADLINE_S`` seconds in all (``assets.download``)."""
    cached = cache_dir() / "downloads" / hashlib.sha256(url.encode()).hexdigest()[:24]
    if cached.exists():
        return cached.read_bytes()
    try:
        part = download(url, cached, MAX_DOWNLOAD_BYTES, timeout=DOWNLOAD_TIMEOUT_S, deadline_s=DOWNLOAD_DEADLINE_S)
    except DownloadError as e:
        raise ImageError(tr("{reason}; try a sample image or a local file", reason=e)) from None
    data = part.read_bytes()
    os.replace(part, cached)   # atomic: a half-written file is never taken for a cached image
    return data


def decode(data: bytes, where: str) -> Image.Image:
    """Bytes of an image file -> RGB image, refusing bombs; ``where`` names the source in the error."""
    if not data:
        raise ImageError(tr("{where} is empty (0 bytes)", where=where))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))  # reads the header only
            w, h = image.size
            if w * h > MAX_PIXELS:
                raise ImageError(tr("{where} is {w}x{h} = {megapixels:.0f} megapixels, more than the {allowed:.0f} allowed; "
                                    "shrink it first", where=where, w=w, h=h, megapixels=w * h / 1e6,
                                    allowed=MAX_PIXELS / 1e6))
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


def gaussian_blur(x: torch.Tensor, kernel_size: int, sigma: float) -> torch.Tensor:
    """Blur images [N, C, H, W] with a normalised Gaussian of std ``sigma`` px over ``kernel_size`` (odd) px.

    The edges are mirrored (reflect padding), as torchvision's ``gaussian_blur`` does; the 2-D kernel
    g(i) g(j) is applied as two 1-D passes. (Own code: importing torchvision costs a kernel ~1.5 s.)
    """
    r = kernel_size // 2
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    g = g / g.sum()                                                        # [k]
    C = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(C, 1, 1, -1), groups=C)   # along rows
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(C, 1, -1, 1), groups=C)  # along columns
