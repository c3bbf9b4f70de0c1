"""Style by region and by scale: the slide's Gram matrix with a mask (slides "Artistic Style #5, #7").

Gatys, Ecker, Bethge, Hertzmann, Shechtman, "Controlling Perceptual Factors in Neural Style Transfer",
CVPR 2017 (arXiv:1611.07865): §4 spatial control, §6 scale control.

A mask m_r [H, W] in [0, 1] marks region r of the content image c. Averaged over the cells of the feature
grid of layer l it becomes m^l_r [M_l] (a cell half inside the region gets 1/2). With F^l [N_l, M_l] of x:

    F^l_r = F^l ⊙ m^l_r                       every row of F^l times the mask: F^l_{r,ik} = m^l_{r,k} F^l_ik
    G^l_r = F^l_r (F^l_r)^T                   G^l_{r,ij} = sum_k (m^l_{r,k})^2 F^l_ik F^l_jk     [N_l, N_l]
    M^l_r = sum_k (m^l_{r,k})^2               the region's size (M^l_r = M_l for a full mask)
    E_{l,r} = M^l_r / M_l * 1/(4 N_l^2) sum_ij (G^l_{r,ij} / M^l_r - A^l_{r,ij} / M^a_l)^2

A^l_r is the Gram matrix of the painting a_r chosen for region r (M^a_l its positions). Dividing each Gram
by its own size compares averages, so a region matches its painting whatever its area; the factor
M^l_r / M_l styles each pixel of a region as strongly as the slide's loss styles each pixel of a whole
picture. A full mask gives the slide's E_l exactly. Then

    L_style = sum_r lambda_r sum_l w_l E_{l,r},   L_total = alpha L_content + beta L_style (+ TV)

A region whose style is None has no term: there only L_content acts, and x stays the photo. The masks are
feathered (blurred) so that two regions meet in a gradual blend, not along a seam.

Scale control: the Gram matrices of the fine layers (high resolution: small strokes) come from one painting,
those of the coarse layers (large shapes, swirls) from another: A^l = A^l(a_fine) for l in the fine layers,
A^l(a_coarse) for the rest (their w_l doubled: with equal weights the fine layers decide alone).
"""
import torch
import torch.nn.functional as F_

from .i18n import tr
from .images import ImageError, tensor_to_image
from .models import CourseModel, channels_last
from .progress import Optimisation
from .style import _bundled_model, _lbfgs                 # the driver's parts
from .style_canvas import border as _border, frame as _frame, luminance as _luminance, pixels as _pixels
from .style_recipes import TransferConfig, settings as _settings
from .style_losses import content_loss, tv_loss


# ---- masks: [H, W] in [0, 1], 1 inside the region ------------------------------------------

def _feathered(mask: torch.Tensor, feather: float) -> torch.Tensor:
    """``mask`` [H, W] blurred by a Gaussian of sigma = ``feather`` x the long side: a soft border."""
    sigma = feather * max(mask.shape)
    if sigma <= 0:
        return mask
    radius = max(1, int(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-t**2 / (2 * sigma**2))
    k = k / k.sum()
    m = F_.pad(mask[None, None], (radius,) * 4, mode="replicate")               # [1, 1, H + 2r, W + 2r]
    m = F_.conv2d(F_.conv2d(m, k.view(1, 1, -1, 1)), k.view(1, 1, 1, -1))       # separable: columns, then rows
    return m[0, 0].clamp(0, 1)


def _grid(size):
    H, W = size
    y = (torch.arange(H, dtype=torch.float32) + 0.5) / H                       # [H] in (0, 1)
    x = (torch.arange(W, dtype=torch.float32) + 0.5) / W                       # [W]
    return y[:, None], x[None, :]


def rectangle(size, top: float, left: float, bottom: float, right: float, feather: float = 0.03) -> torch.Tensor:
    """Mask [H, W] of a rectangle, sides as fractions of the height and width (0 top/left, 1 bottom/right)."""
    y, x = _grid(size)
    return _feathered(((y >= top) & (y < bottom) & (x >= left) & (x < right)).float(), feather)


def ellipse(size, centre=(0.5, 0.5), radii=(0.3, 0.3), feather: float = 0.03) -> torch.Tensor:
    """Mask [H, W] of an ellipse; centre (y, x) and radii (r_y, r_x) as fractions of the height and width."""
    y, x = _grid(size)
    inside = ((y - centre[0]) / radii[0]) ** 2 + ((x - centre[1]) / radii[1]) ** 2 <= 1
    return _feathered(inside.float(), feather)


def threshold(image, level: float = 0.5, feather: float = 0.01, size: int | None = None) -> torch.Tensor:
    """Mask [H, W]: where the photo's luminance Y is above ``level`` (1 - mask: below). ``size``: its long side."""
    x = image if isinstance(image, torch.Tensor) and size is None else _pixels(image, size or 256)
    if not 0 <= level <= 1:
        raise ValueError(tr("the threshold level must be in [0, 1], got {level!r}", level=level))
    return _feathered((_luminance(x)[0, 0] > level).float(), feather)


def _mask_for(mask, size) -> torch.Tensor:
    """A user's mask checked and resized to the content's ``size`` (H, W)."""
    if not isinstance(mask, torch.Tensor) or mask.dim() != 2:
        shape = list(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(tr("a mask must be a tensor [H, W] with values in [0, 1], got {shape}", shape=shape))
    mask = mask.detach().float().cpu()
    if not torch.isfinite(mask).all() or mask.min() < 0 or mask.max() > 1:
        raise ValueError(tr("a mask must hold values in [0, 1]"))
    (h, w), (H, W) = mask.shape, size
    if abs(h / w - H / W) > 0.05 * H / W:
        raise ValueError(tr("the mask is {h}x{w} px but the content image {H}x{W}: draw it on the content's shape",
                            h=h, w=w, H=H, W=W))
    return F_.interpolate(mask[None, None], size=size, mode="bilinear", align_corners=False)[0, 0].clamp(0, 1)


# ---- the masked Gram matrix and its loss (slide notation) ---------------------------------

def masked_gram(F: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """G^l_r = (F^l ⊙ m^l_r)(F^l ⊙ m^l_r)^T; F [N_l, M_l] or [B, N_l, H, W], m [M_l] or [H, W] (slide: Artistic Style #5)."""
    F = F.flatten(2) if F.dim() == 4 else F                                     # [B, N_l, M_l] or [N_l, M_l]
    F_r = F * m.reshape(-1)                                                     # F^l_r: each row times m^l_r
    return F_r @ F_r.transpose(-1, -2)                                          # [(B,) N_l, N_l]


def region_size(m: torch.Tensor) -> torch.Tensor:
    """M^l_r = sum_k (m^l_{r,k})^2: the number of positions of a sharp region, M_l for a full mask."""
    return (m**2).sum()


def masked_style_layer_loss(F: torch.Tensor, m: torch.Tensor, A_mean: torch.Tensor) -> torch.Tensor:
    """E_{l,r} = M^l_r/M_l 1/(4 N_l^2) sum_ij (G^l_r/M^l_r - A^l/M^a_l)^2; ``A_mean`` = A^l/M^a_l (see the module)."""
    N_l, M_l = F.shape[-3] if F.dim() == 4 else F.shape[-2], m.numel()
    M_r = region_size(m).clamp(min=1e-6)
    G_mean = masked_gram(F, m) / M_r                                            # [(B,) N_l, N_l]
    return (M_r / M_l) * ((G_mean - A_mean) ** 2).sum() / (4 * N_l**2)


def mean_grams(model: CourseModel, a: torch.Tensor, layers, pad: int, align: int) -> dict:
    """{l: A^l / M^a_l} of a style image a [1, 3, H, W] (its canvas, as for x)."""
    with torch.no_grad():
        F = model.features(model.to_input(_frame(a, pad, align)), layers)
    return {l: masked_gram(F_l, torch.ones(F_l.shape[-2:])) / F_l[0, 0].numel() for l, F_l in F.items()}


# ---- the transfer: one optimisation with masked style terms (slide: Artistic Style #7) -----

def _optimise(model, c, targets, cfg, live, quiet, desc):
    """x minimising alpha L_content + beta sum_r sum_l lambda_{r,l} w_l E_{l,r} + TV; ``targets`` = [(m_r, {l: (A^l/M^a_l, lambda_{r,l})})]."""
    content_layers, style_layers = list(cfg.content_layers), list(cfg.style_layers)
    pad, align = cfg.pad, cfg.align
    w_style = {l: 1.0 / max(1, len(style_layers)) for l in style_layers}
    with channels_last(model.net):
        with torch.no_grad():
            C = model.features(model.to_input(_frame(c, pad, align)), content_layers) if cfg.alpha and content_layers else {}
        start = {"content": c, "noise": torch.rand(c.shape, generator=torch.Generator().manual_seed(cfg.seed))}[cfg.init]
        x = _frame(start, pad, align).clone().to(model.device).requires_grad_(True)   # the canvas, as in ``transfer``
        masks = [(_frame(m[None, None].expand(1, 3, -1, -1), pad, align)[:, :1], A) for m, A in targets]
        grids = {}                                                               # m^l_r per (region, layer), made once

        def loss_of(x):
            F = model.features(model.to_input(x), content_layers + style_layers if masks else content_layers)
            L_content = content_loss(F, C, {l: 1.0 for l in C}) if C else x.new_zeros(())
            L_style = x.new_zeros(())
            for r, (m, A) in enumerate(masks):
                for l, (A_mean, lam) in A.items():
                    if (r, l) not in grids:                                      # m averaged over each cell: [H_l, W_l]
                        grids[r, l] = F_.adaptive_avg_pool2d(m, F[l].shape[-2:])[0, 0].to(x.device)
                    L_style = L_style + lam * w_style[l] * masked_style_layer_loss(F[l], grids[r, l], A_mean)
            total = cfg.alpha * L_content + cfg.beta * L_style + (cfg.tv_weight * tv_loss(x) if cfg.tv_weight else 0)
            return total

        with Optimisation(cfg.steps, desc, live=live, to_image=tensor_to_image, quiet=quiet) as run:
            _lbfgs(x, loss_of, lambda loss: run.step(loss.detach(), x), cfg.steps, run)
    x = x.detach().clamp(0, 1).cpu()
    left, right, top, bottom = _border(*c.shape[-2:], pad, align)
    return x[..., top:x.shape[-2] - bottom, left:x.shape[-1] - right]           # [1, 3, H, W]: the border dropped


def _resolved(model, config, settings):
    cfg = _settings(config or TransferConfig(), model, settings)
    if cfg.optimizer != "lbfgs" or cfg.preserve_colour or cfg.style_weights is not None or cfg.init == "style":
        raise ValueError(tr("style by region and by scale run L-BFGS from the content or noise; optimizer='adam', "
                            "preserve_colour, style_weights and init='style' are for transfer()"))
    return cfg


def style_by_region(content, regions, model: CourseModel | None = None, config: TransferConfig | None = None, *,
                    live: bool = True, quiet: bool = False, **settings) -> torch.Tensor:
    """x with a different style in each region of the content (slides: Artistic Style #5, #7; Gatys et al. 2017, §4).

    regions: a list of (mask, style) or (mask, style, strength): mask a tensor [H, W] in [0, 1] drawn on the
    content's shape (``rectangle``, ``ellipse``, ``threshold``), style an image or None (no style there: the
    photo stays), strength lambda_r (default 1). Pixels no mask covers keep the photo too. ``config`` and the
    keywords are ``transfer``'s (size, steps, beta, ...). Returns x [1, 3, H, W] in [0, 1].
    """
    model = model or _bundled_model()
    cfg = _resolved(model, config, settings)
    if not isinstance(regions, (list, tuple)) or not regions:
        raise ValueError(tr("regions must be a list of (mask, style) or (mask, style, strength)"))
    c = _pixels(content, cfg.size)                                               # [1, 3, H, W]
    targets, cache = [], {}
    for region in regions:
        if not isinstance(region, (list, tuple)) or len(region) not in (2, 3):
            raise ValueError(tr("regions must be a list of (mask, style) or (mask, style, strength)"))
        mask, style, strength = (*region, 1.0) if len(region) == 2 else region
        if not (isinstance(strength, (int, float)) and strength >= 0):
            raise ValueError(tr("a region's strength must be a number >= 0, got {value!r}", value=strength))
        m = _mask_for(mask, c.shape[-2:])
        if style is None or strength == 0:
            continue                                                             # no style term: L_content keeps it the photo
        key = id(style)
        if key not in cache:
            cache[key] = mean_grams(model, _pixels(style, cfg.size), cfg.style_layers, cfg.pad, cfg.align)
        targets.append((m, {l: (A_mean, float(strength)) for l, A_mean in cache[key].items()}))
    return _optimise(model, c, targets, cfg, live, quiet, tr("style by region"))


def style_by_scale(content, coarse_style, fine_style, model: CourseModel | None = None, config: TransferConfig | None = None,
                   *, fine_layers=None, coarse_weight: float = 2.0, live: bool = True, quiet: bool = False,
                   **settings) -> torch.Tensor:
    """x with the large shapes of ``coarse_style`` and the small strokes of ``fine_style`` (Gatys et al. 2017, §6).

    A^l is the Gram matrix of ``fine_style`` on ``fine_layers`` (default: the first two style layers, 1/2 and 1/4
    of the resolution) and of ``coarse_style`` on the others, whose w_l are multiplied by ``coarse_weight``: with
    the slide's equal weights the fine layers decide alone (their E_l are larger, and L_content holds ``block7``).
    Returns x [1, 3, H, W] in [0, 1].
    """
    model = model or _bundled_model()
    cfg = _resolved(model, config, settings)
    style_layers = list(cfg.style_layers)
    fine = list(fine_layers) if fine_layers is not None else style_layers[:2]
    if not set(fine) <= set(style_layers) or not fine or len(fine) == len(style_layers):
        raise ValueError(tr("fine_layers must be some, not all, of the style layers {layers}, got {fine}",
                            layers=", ".join(style_layers), fine=", ".join(map(str, fine))))
    if not (isinstance(coarse_weight, (int, float)) and coarse_weight >= 0):
        raise ValueError(tr("coarse_weight must be a number >= 0, got {value!r}", value=coarse_weight))
    coarse = [l for l in style_layers if l not in fine]
    c = _pixels(content, cfg.size)
    A = {l: (A_mean, 1.0) for l, A_mean in mean_grams(model, _pixels(fine_style, cfg.size), fine, cfg.pad, cfg.align).items()}
    A.update({l: (A_mean, float(coarse_weight))
              for l, A_mean in mean_grams(model, _pixels(coarse_style, cfg.size), coarse, cfg.pad, cfg.align).items()})
    return _optimise(model, c, [(torch.ones(c.shape[-2:]), A)], cfg, live, quiet, tr("style by scale"))


def region_change(x: torch.Tensor, content: torch.Tensor, mask: torch.Tensor, inside: float = 0.99) -> float:
    """Mean |x - c| over the pixels where ``mask`` > ``inside``: how far a region moved from the photo."""
    c = _pixels(content, max(x.shape[-2:]))
    keep = _mask_for(mask, x.shape[-2:]) > inside
    if not keep.any():
        raise ValueError(tr("the mask has no pixel above {inside}", inside=inside))
    return (x - c).abs().mean(1)[0][keep].mean().item()


def seam_ratio(x: torch.Tensor, mask: torch.Tensor, band: int = 1) -> float:
    """Neighbour energy of x along the mask's border (0.5 level) / the mean of it inside each side: about 1 without a seam."""
    m = _mask_for(mask, x.shape[-2:]) > 0.5
    dy = F_.pad((x[:, :, 1:] - x[:, :, :-1]) ** 2, (0, 0, 0, 1))                 # [1, 3, H, W]
    dx = F_.pad((x[..., 1:] - x[..., :-1]) ** 2, (0, 1))
    energy = (dy + dx).sum(1)[0]                                                 # [H, W]
    edge = (m[1:] != m[:-1])
    border = F_.pad(edge, (0, 0, 0, 1)) | F_.pad(edge, (0, 0, 1, 0))
    edge = (m[:, 1:] != m[:, :-1])
    border = border | F_.pad(edge, (0, 1)) | F_.pad(edge, (1, 0))
    border = F_.max_pool2d(border[None, None].float(), 2 * band - 1, 1, band - 1)[0, 0] > 0 if band > 1 else border
    if not border.any():
        raise ValueError(tr("the mask has no border inside the picture"))
    wide = F_.max_pool2d(border[None, None].float(), 9, 1, 4)[0, 0] > 0          # keep the inside away from it
    sides = [energy[m & ~wide].mean(), energy[~m & ~wide].mean()]
    return (energy[border].mean() / torch.stack(sides).mean().clamp(min=1e-12)).item()


__all__ = ["ellipse", "masked_gram", "masked_style_layer_loss", "rectangle", "region_change", "seam_ratio",
           "style_by_region", "style_by_scale", "threshold"]
