"""Statistics that judge a style-transfer picture without the network that made it.

The style loss says how well x matches the painting *for the network*; it cannot see the
artefacts the network is blind to. These image statistics can (each on x [1, 3, H, W] in [0, 1]):

    colour_outliers   fraction of pixels of x whose colour is far from every colour of content ∪ style
    edge_band         mean squared neighbour difference in the top rows / the same in the rows just below
    high_frequency    share of the picture's energy (about its mean) in the finest checkerboard-like detail
    layout_similarity correlation of x and the content at 32 px, luminance: is the photo still there?
"""
import torch
import torch.nn.functional as F_


def _check(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
        shape = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be an image tensor [B, 3, H, W] in [0, 1], got {shape}")
    return x.detach().float().cpu().clamp(0, 1)


def _occupied(images, bins: int, min_count: int) -> torch.Tensor:
    """Boolean [bins, bins, bins]: RGB cells holding at least ``min_count`` pixels of any of ``images``."""
    counts = torch.zeros(bins**3)
    for im in images:
        q = (im.clamp(0, 1) * (bins - 1e-6)).long().permute(0, 2, 3, 1).reshape(-1, 3)  # [P, 3] cell of each pixel
        counts += torch.bincount((q[:, 0] * bins + q[:, 1]) * bins + q[:, 2], minlength=bins**3).float()
    return (counts >= min_count).view(bins, bins, bins)


def colour_outliers(x, content, style, bins: int = 16, reach: int = 1, min_count: int = 4) -> float:
    """Fraction of the pixels of x that are more than ``reach`` colour cells (of 1/``bins`` per channel) away
    from every colour that occurs (at least ``min_count`` times) in the content or the style image."""
    x, content = _check(x), _check(content, "content")
    styles = [_check(s, "style") for s in (style if isinstance(style, (list, tuple)) else [style])]
    near = _occupied([content, *styles], bins, min_count).float()[None, None]           # [1, 1, b, b, b]
    near = F_.max_pool3d(near, 2 * reach + 1, stride=1, padding=reach)[0, 0] > 0         # dilated by ``reach`` cells
    q = (x * (bins - 1e-6)).long().permute(0, 2, 3, 1).reshape(-1, 3)                   # [P, 3]
    return 1.0 - near[q[:, 0], q[:, 1], q[:, 2]].float().mean().item()


def _neighbour_energy(x: torch.Tensor) -> torch.Tensor:
    """[B, H, W]: squared differences to the right and lower neighbours, summed over colours."""
    dy = F_.pad(x[:, :, 1:] - x[:, :, :-1], (0, 0, 0, 1))   # [B, 3, H, W]
    dx = F_.pad(x[..., 1:] - x[..., :-1], (0, 1))           # [B, 3, H, W]
    return (dy**2 + dx**2).sum(1)


def edge_band(x, rows: int = 3, side: str = "top") -> float:
    """Mean neighbour energy of the ``rows`` outermost rows (or columns) on ``side`` / that of the next 3 x ``rows``.

    About 1 for a picture without a frame; a band of coloured pixels along that edge gives several times more.
    """
    x = _check(x)
    if side not in ("top", "bottom", "left", "right"):
        raise ValueError(f"side must be 'top', 'bottom', 'left' or 'right', got {side!r}")
    e = _neighbour_energy(x)                                 # [B, H, W]
    e = {"top": e, "bottom": e.flip(1), "left": e.transpose(1, 2), "right": e.transpose(1, 2).flip(1)}[side]
    if e.shape[1] < 4 * rows + 2:
        raise ValueError(f"the picture ({list(x.shape[-2:])}) is too small for an edge band of {rows} rows")
    return (e[:, :rows].mean() / e[:, rows:4 * rows].mean().clamp(min=1e-12)).item()


def high_frequency(x) -> float:
    """Share of the variance of x in its finest detail: |x - blur(x)|^2 / |x - mean(x)|^2, blur a 3x3 binomial.

    A photo gives a few per cent; checkerboard speckle from strided gradients gives much more.
    """
    x = _check(x)
    k = torch.tensor([1.0, 2.0, 1.0])
    k = (k[:, None] * k[None, :] / 16).expand(3, 1, 3, 3)     # [3, 1, 3, 3] binomial blur per colour
    blurred = F_.conv2d(F_.pad(x, (1, 1, 1, 1), mode="replicate"), k, groups=3)
    return (((x - blurred) ** 2).sum() / ((x - x.mean((2, 3), keepdim=True)) ** 2).sum().clamp(min=1e-12)).item()


def layout_similarity(x, content, size: int = 32) -> float:
    """Pearson correlation of the luminance of x and of the content, both at long side ``size``."""
    x, content = _check(x), _check(content, "content")
    def small(im):
        H, W = im.shape[-2:]
        hw = (max(1, round(H * size / max(H, W))), max(1, round(W * size / max(H, W))))
        y = (im * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1)           # [B, H, W]
        return F_.interpolate(y[:, None], size=hw, mode="area").flatten()
    a, b = small(x), small(F_.interpolate(content, size=x.shape[-2:], mode="bilinear", antialias=True))
    a, b = a - a.mean(), b - b.mean()
    return (a @ b / (a.norm() * b.norm()).clamp(min=1e-12)).item()


def report(x, content, style) -> dict:
    """All four statistics of x against its content and style images (each [1, 3, H, W] in [0, 1])."""
    return {"colour_outliers": colour_outliers(x, content, style), "edge_band_top": edge_band(x),
            "high_frequency": high_frequency(x), "layout_similarity": layout_similarity(x, content)}
