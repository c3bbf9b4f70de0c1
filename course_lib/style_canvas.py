"""The pictures a style transfer works on: x's canvas, and the colours it keeps (slides "Artistic Style #7").

* ``pixels``: any image source at a given long side, [1, 3, H, W] in [0, 1];
* ``frame`` / ``border``: x in a mirror-image border whose sides are 1 (mod ``align``) px, so every stride-2
  TensorFlow "same" convolution pads both ends alike (``frame`` explains the band it prevents);
* ``luminance_only`` / ``keep_colours``: style the luminance only and keep the photo's colours
  (Gatys, Bethge, Hertzmann, Shechtman, "Preserving Color in Neural Artistic Style Transfer", 2016).
"""
import torch

from .i18n import tr
from .images import ImageError, image_to_tensor, load_image


def pixels(image, size: int) -> torch.Tensor:
    """Any image source, or a [1, 3, H, W] tensor in [0, 1] -> [1, 3, H, W] in [0, 1], long side ``size``."""
    if isinstance(image, torch.Tensor):
        if image.dim() != 4 or image.shape[:2] != (1, 3):
            raise ImageError(tr("an image tensor must be [1, 3, H, W] in [0, 1], got shape {shape}", shape=list(image.shape)))
        H, W = image.shape[-2:]
        if max(H, W) == size:
            return image.detach().float().cpu()
        hw = (max(1, round(H * size / max(H, W))), max(1, round(W * size / max(H, W))))
        return torch.nn.functional.interpolate(image.detach().float().cpu(), size=hw, mode="bilinear", antialias=True)
    return image_to_tensor(load_image(image, max_size=size))


def luminance(x: torch.Tensor) -> torch.Tensor:
    """Y of YIQ, [B, 1, H, W]."""
    return (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)


def luminance_only(c, a_list):
    """Grey content, and grey styles matched to its luminance mean and std (Gatys et al. 2016)."""
    y_c = luminance(c)                                                                   # [1, 1, H, W]
    match = lambda y: ((y - y.mean()) / y.std().clamp(min=1e-6) * y_c.std() + y_c.mean()).clamp(0, 1)  # noqa: E731
    return y_c.expand(-1, 3, -1, -1), [match(luminance(a)).expand(-1, 3, -1, -1) for a in a_list]


def keep_colours(x: torch.Tensor, colours: torch.Tensor) -> torch.Tensor:
    """The luminance of ``x`` with the chrominance (RGB - Y) of ``colours`` (Gatys et al. 2016, colour preservation)."""
    return (luminance(x) + colours - luminance(colours)).clamp(0, 1)


def border(H: int, W: int, pad: int, align: int = 1) -> tuple:
    """(left, right, top, bottom) px of mirror image around an image [H, W]: ``pad`` on every side, then
    a few more (split about evenly) until each side of the canvas is 1 more than a multiple of ``align``."""
    sides = []
    for n in (W, H):
        extra = 2 * pad + (1 - n - 2 * pad) % align   # canvas n + extra = 1 (mod align)
        sides += [extra // 2, extra - extra // 2]
    return tuple(sides)


def frame(x: torch.Tensor, pad: int, align: int = 1) -> torch.Tensor:
    """x [B, 3, H, W] in a mirror-image border of ``pad`` px (see ``border`` for ``align``): the canvas.

    The stride-2 TensorFlow "same" convolutions pad one-sidedly when their input has an even side
    (nothing on top, a row at the bottom), so the top rows of the feature maps are unlike the rest and
    their style gradient paints a band of colours along the top of the picture. On an odd side the
    padding is the same on both ends; a side of 16 k + 1 px stays odd down to 1/16, through all four
    stride-2 layers up to ``block10`` (``align=16``). ``transfer`` optimises the whole canvas and keeps
    its middle (``unframe``).
    """
    left, right, top, bottom = border(*x.shape[-2:], pad, align)
    if not (left or right or top or bottom):
        return x
    if max(left, right, top, bottom) >= min(x.shape[-2:]):
        raise ValueError(tr("pad = {pad} px must be smaller than the image ({size})", pad=pad, size=list(x.shape[-2:])))
    return torch.nn.functional.pad(x, (left, right, top, bottom), mode="reflect")  # [B, 3, H + top + bottom, W + left + right]


def unframe(canvas: torch.Tensor, H: int, W: int, pad: int, align: int = 1) -> torch.Tensor:
    """The middle [B, 3, H, W] of a canvas made by ``frame`` from an image [H, W]: the border is dropped."""
    left, right, top, bottom = border(H, W, pad, align)
    return canvas[..., top:canvas.shape[-2] - bottom, left:canvas.shape[-1] - right]
