"""A Neural Algorithm of Artistic Style (slides "Artistic Style #1-#7").

Gatys, Ecker, Bethge, "A Neural Algorithm of Artistic Style", arXiv:1508.06576 (2015).

x is the generated image, c the content image, a the style image; L_content and L_style are the slide's
losses, written out in ``style_losses`` (re-exported here):

    total   (slide #7):  L_total = alpha L_content + beta L_style

This module is the driver: ``transfer``
optimises the pixels of x with L-BFGS (or Adam), its settings in one ``TransferConfig``.
"""
import dataclasses
import functools
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .config import lecture_or_quick
from .i18n import tr
from .images import ImageError, image_to_tensor, load_image, tensor_to_image
from .models import CourseModel, channels_last, load_model
from .progress import Optimisation
from .style_losses import (content_layer_loss, content_loss, gram_matrix, style_layer_grad,  # noqa: F401 (the slide's
                           style_layer_loss, style_loss, tv_loss)                            # formulas, re-exported)


# ---- transfer: optimise the pixels of x for L_total (slide: Artistic Style #7) ------------

# Per network: content layers, style layers (w_l = 1/5 each, as in Gatys) and beta/alpha at 256 px.
# E_l divides by M_l^2 while L_content sums over M_l, so beta scales with the area, (size / 256)^2.
# EfficientNet-Lite0: the ends of its first five stages, five scales like VGG's relu1_1..relu5_1
# (how they were chosen: benchmarks/bench_style.py).
DEFAULT_LAYERS = {
    "efficientnet_lite0": (("block7",), ("block0", "block2", "block4", "block7", "block10"), 5e4),
    "vgg19": (("conv4_2",), ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), 1e3),
}
DEFAULT_LAYERS["vgg16"] = DEFAULT_LAYERS["vgg19"]

# recipe="plain" is the slide's L_total. recipe="clean" (the default) scales beta by ``beta_scale``, adds
# tv_weight = alpha * ``tv`` (EfficientNet's stride-2 stem lets pixel speckle through unseen) and optimises x
# on a canvas with a mirror-image border (``_frame``): ``pad`` px, and sides of 1 (mod ``align``) px so the
# TensorFlow "same" padding is two-sided and paints no band along the top. Measurements: benchmarks/bench_style.py.
CLEAN = {"efficientnet_lite0": dict(beta_scale=0.4, tv=50.0, pad=0, align=16)}
CLEAN_OTHER = dict(beta_scale=1.0, tv=0.0, pad=16, align=1)
RECIPES = ("clean", "plain")


@dataclass
class TransferConfig:
    """The settings of one ``transfer`` (quick mode: tiny images, few evaluations); None: the model's default."""

    content_layers: tuple | None = None          # None: DEFAULT_LAYERS of the model
    style_layers: tuple | None = None
    alpha: float = 1.0                           # weight of L_content; 0: a pure style reconstruction
    beta: float | None = None                    # weight of L_style; None: ``default_beta``
    style_weights: tuple | None = None           # mix of several style images; None: equal
    tv_weight: float | None = None               # None: the recipe's
    steps: int = lecture_or_quick(200, 30)       # loss evaluations (L-BFGS) or Adam steps
    optimizer: str = "lbfgs"                     # or "adam"
    adam_lr: float = 0.02
    init: str = "content"                        # or "noise", "style"
    size: int = lecture_or_quick(256, 64)        # long side of the generated image x
    preserve_colour: bool = False                # style only the luminance; keep the content's colours
    seed: int = 0
    recipe: str = "clean"                        # or "plain": the slide's loss alone
    pad: int | None = None                       # mirror-image border, px; None: the recipe's


@dataclass
class StyleConfig(TransferConfig):
    """``TransferConfig`` plus the sizes of ``layer_grid`` (the notebook's ``cfg``)."""

    grid_size: int = lecture_or_quick(160, 48)
    grid_steps: int = lecture_or_quick(100, 25)


class TransferResult(NamedTuple):
    image: torch.Tensor   # x: [1, 3, H, W] in [0, 1]
    history: dict         # {"total", "content", "style", "tv"}: one value per evaluation


@functools.lru_cache(maxsize=1)
def _bundled_model() -> CourseModel:
    return load_model()


def default_layers(model: CourseModel):
    """(content layers, style layers, beta/alpha) for ``model``; see ``DEFAULT_LAYERS``."""
    if model.name not in DEFAULT_LAYERS:
        raise ValueError(tr("no default style layers for {model}; pass content_layers and style_layers (choose from {names})",
                            model=model.name, names=", ".join(model.layer_names)))
    return DEFAULT_LAYERS[model.name]


def recipe_defaults(model: CourseModel, recipe: str = "clean") -> dict:
    """{"beta_scale", "tv", "pad", "align"} of ``recipe`` for ``model``: "plain" is the slide's loss, "clean" see ``CLEAN``."""
    if recipe not in RECIPES:
        raise ValueError(tr("recipe must be one of {recipes}, got {recipe!r}", recipes=", ".join(map(repr, RECIPES)), recipe=recipe))
    return dict(beta_scale=1.0, tv=0.0, pad=0, align=1) if recipe == "plain" else CLEAN.get(model.name, CLEAN_OTHER)


def default_beta(model: CourseModel, size: int, alpha: float = 1.0, recipe: str = "clean") -> float:
    """The default beta for ``alpha`` at image size ``size``: beta/alpha of ``DEFAULT_LAYERS`` times (size/256)^2,
    times the recipe's ``beta_scale``."""
    return alpha * default_layers(model)[2] * (size / 256) ** 2 * recipe_defaults(model, recipe)["beta_scale"]


def _pixels(image, size: int) -> torch.Tensor:
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


def _luminance(x: torch.Tensor) -> torch.Tensor:
    """Y of YIQ, [B, 1, H, W]."""
    return (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)


def _luminance_only(c, a_list):
    """Grey content, and grey styles matched to its luminance mean and std (Gatys et al. 2016)."""
    y_c = _luminance(c)                                                                  # [1, 1, H, W]
    match = lambda y: ((y - y.mean()) / y.std().clamp(min=1e-6) * y_c.std() + y_c.mean()).clamp(0, 1)  # noqa: E731
    return y_c.expand(-1, 3, -1, -1), [match(_luminance(a)).expand(-1, 3, -1, -1) for a in a_list]


def keep_colours(x: torch.Tensor, colours: torch.Tensor) -> torch.Tensor:
    """The luminance of ``x`` with the chrominance (RGB - Y) of ``colours`` (Gatys et al. 2016, colour preservation)."""
    return (_luminance(x) + colours - _luminance(colours)).clamp(0, 1)


def transfer(content, style=None, model: CourseModel | None = None, config: TransferConfig | None = None, *,
             live: bool = True, quiet: bool = False, **settings) -> TransferResult:
    """x minimising L_total = alpha L_content + beta L_style + tv_weight TV (slide: Artistic Style #7).

    content: image (path, URL, PIL, ...) whose layout x keeps; style: one image, a list of
    images (mixed with ``style_weights``) or None (content only). ``config`` (a ``TransferConfig``)
    holds the settings; keywords (``size=``, ``beta=``, ``recipe=``, ...) override its fields.
    Ctrl-C returns the current image; divergence the last good one.
    """
    model = model or _bundled_model()
    cfg = _settings(config or TransferConfig(), model, settings)
    size, steps, alpha, beta, tv_weight, pad = cfg.size, cfg.steps, cfg.alpha, cfg.beta, cfg.tv_weight, cfg.pad
    content_layers, style_layers, align = list(cfg.content_layers), list(cfg.style_layers), cfg.align
    if not (alpha and content_layers) and not (beta and style_layers and style is not None):
        raise ValueError(tr("nothing to optimise: give a style image with beta > 0 and style layers, "
                            "or alpha > 0 and content layers"))

    c = _pixels(content, size)                                         # [1, 3, H, W]
    styles = [] if style is None else (list(style) if isinstance(style, (list, tuple)) else [style])
    v = list(cfg.style_weights) if cfg.style_weights is not None else [1 / max(1, len(styles))] * len(styles)
    if len(v) != len(styles):
        raise ValueError(tr("got {images} style images but {weights} style weights", images=len(styles), weights=len(v)))
    a_list = [_pixels(a, size) for a in styles]                        # [1, 3, H_a, W_a] each
    c_in, a_list = _luminance_only(c, a_list) if cfg.preserve_colour else (c, a_list)

    def features(x01, layers):
        return model.features(model.to_input(x01), layers)

    w_content = {l: 1.0 for l in content_layers}
    w_style = {l: 1.0 / max(1, len(style_layers)) for l in style_layers}
    with channels_last(model.net):  # targets and x through the same kernels: init="content" starts at L_content = 0
        with torch.no_grad():
            C = features(_frame(c_in, pad, align), content_layers) if alpha and content_layers else {}
            A_list = [{l: gram_matrix(F_l)[0] for l, F_l in features(_frame(a, pad, align), style_layers).items()}  # A^l [N_l, N_l]
                      for a in a_list] if beta and style_layers else []

        generator = torch.Generator().manual_seed(cfg.seed)
        x0 = {"content": c_in, "noise": torch.rand(c.shape, generator=generator),
              "style": torch.nn.functional.interpolate(a_list[0], size=c.shape[-2:], mode="bilinear") if a_list else c_in}[cfg.init]
        x = _frame(x0, pad, align).clone().to(model.device).requires_grad_(True)  # the canvas: x in a mirror-image border
        history = {"total": [], "content": [], "style": [], "tv": []}

        def loss_of(x):
            F = features(x, content_layers + style_layers if A_list else content_layers)
            L_content = content_loss(F, C, w_content) if C else x.new_zeros(())
            L_style = sum((v_s * style_loss(F, A, w_style) for v_s, A in zip(v, A_list)), x.new_zeros(()))
            L_tv = tv_loss(x) if tv_weight else x.new_zeros(())
            total = alpha * L_content + beta * L_style + tv_weight * L_tv
            for key, value in zip(history, (total, L_content, L_style, L_tv)):
                history[key].append(value.item())
            return total

        with Optimisation(steps, tr("style transfer"), live=live, to_image=tensor_to_image, quiet=quiet) as run:
            if cfg.optimizer == "adam":
                opt = torch.optim.Adam([x], lr=cfg.adam_lr)
                for _ in range(steps):
                    opt.zero_grad()
                    loss = loss_of(x)
                    loss.backward()
                    if not run.step(loss.detach(), x):
                        break
                    opt.step()
                    with torch.no_grad():
                        x.clamp_(0, 1)
            else:
                _lbfgs(x, loss_of, run, steps)
    x = (run.best_image(x) if cfg.optimizer == "adam" else x.detach()).clamp(0, 1).cpu()
    left, right, top, bottom = _border(*c.shape[-2:], pad, align)
    x = x[..., top:x.shape[-2] - bottom, left:x.shape[-1] - right]  # [1, 3, H, W]: the border is dropped
    for key in history:
        del history[key][len(run.history):]  # drop the values of a diverged evaluation
    if cfg.preserve_colour:
        x = keep_colours(x, c)
    return TransferResult(x, history)


@dataclass
class _Resolved(TransferConfig):
    align: int = 1


def _settings(config: TransferConfig, model: CourseModel, overrides: dict) -> _Resolved:
    """``config`` with ``overrides`` applied, the model's and the recipe's defaults filled in, every value checked."""
    names = [f.name for f in dataclasses.fields(TransferConfig)]
    overrides = {n: v for n, v in overrides.items() if v is not None}   # None: keep the config's value
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise TypeError(tr("transfer() got unknown settings {unknown}; valid: {names}", unknown=", ".join(unknown),
                           names=", ".join(names)))
    cfg = _Resolved(**{n: overrides.get(n, getattr(config, n)) for n in names})
    if cfg.content_layers is None or cfg.style_layers is None or cfg.beta is None:
        d_content, d_style, _ = default_layers(model)
        cfg.content_layers = d_content if cfg.content_layers is None else cfg.content_layers
        cfg.style_layers = d_style if cfg.style_layers is None else cfg.style_layers
        cfg.beta = default_beta(model, cfg.size, cfg.alpha, cfg.recipe) if cfg.beta is None else cfg.beta
    chosen = recipe_defaults(model, cfg.recipe)  # also checks the recipe's name
    cfg.tv_weight = cfg.alpha * chosen["tv"] if cfg.tv_weight is None else cfg.tv_weight
    cfg.pad = chosen["pad"] if cfg.pad is None else cfg.pad
    cfg.align = chosen["align"]
    if cfg.optimizer not in ("lbfgs", "adam"):
        raise ValueError(tr("optimizer must be 'lbfgs' or 'adam', got {optimizer!r}", optimizer=cfg.optimizer))
    if cfg.init not in ("content", "noise", "style"):
        raise ValueError(tr("init must be 'content', 'noise' or 'style', got {init!r}", init=cfg.init))
    if isinstance(cfg.pad, bool) or not isinstance(cfg.pad, int) or cfg.pad < 0:
        raise ValueError(tr("pad must be a whole number of pixels >= 0, got {pad!r}", pad=cfg.pad))
    if not cfg.tv_weight >= 0:
        raise ValueError(tr("tv_weight must be >= 0, got {tv_weight!r}", tv_weight=cfg.tv_weight))
    for name in list(cfg.content_layers) + list(cfg.style_layers):
        model.layer(name)  # UnknownNameError listing the valid names
    return cfg


def _border(H: int, W: int, pad: int, align: int = 1) -> tuple:
    """(left, right, top, bottom) px of mirror image around an image [H, W]: ``pad`` on every side, then
    a few more (split about evenly) until each side of the canvas is 1 more than a multiple of ``align``."""
    sides = []
    for n in (W, H):
        extra = 2 * pad + (1 - n - 2 * pad) % align   # canvas n + extra = 1 (mod align)
        sides += [extra // 2, extra - extra // 2]
    return tuple(sides)


def _frame(x: torch.Tensor, pad: int, align: int = 1) -> torch.Tensor:
    """x [B, 3, H, W] in a mirror-image border of ``pad`` px (see ``_border`` for ``align``): the canvas.

    The stride-2 TensorFlow "same" convolutions pad one-sidedly when their input has an even side
    (nothing on top, a row at the bottom), so the top rows of the feature maps are unlike the rest and
    their style gradient paints a band of colours along the top of the picture. On an odd side the
    padding is the same on both ends; a side of 16 k + 1 px stays odd down to 1/16, through all four
    stride-2 layers up to ``block10`` (``align=16``). ``transfer`` optimises the whole canvas and keeps
    its middle.
    """
    left, right, top, bottom = _border(*x.shape[-2:], pad, align)
    if not (left or right or top or bottom):
        return x
    if max(left, right, top, bottom) >= min(x.shape[-2:]):
        raise ValueError(tr("pad = {pad} px must be smaller than the image ({size})", pad=pad, size=list(x.shape[-2:])))
    return torch.nn.functional.pad(x, (left, right, top, bottom), mode="reflect")  # [B, 3, H + top + bottom, W + left + right]


class _Stop(Exception):
    """Ends L-BFGS from inside its closure: budget spent or loss diverged."""


def _lbfgs(x, loss_of, run, steps):
    """L-BFGS over the pixels of x, one ``run.step`` per loss evaluation, ``steps`` evaluations in all.

    The line search also evaluates trial points, so x ends as the best image evaluated.
    """
    opt = torch.optim.LBFGS([x], lr=1, max_iter=steps, max_eval=steps, history_size=20,
                            tolerance_grad=0, tolerance_change=0, line_search_fn="strong_wolfe")
    best = {"loss": float("inf"), "x": x.detach().clone()}

    def closure():
        if len(run.history) >= steps:
            raise _Stop
        opt.zero_grad()
        loss = loss_of(x)
        loss.backward()
        if not run.step(loss.detach(), x):
            raise _Stop
        if loss.item() < best["loss"]:
            best.update(loss=loss.item(), x=x.detach().clone())
        return loss

    try:
        while len(run.history) < steps:
            before = len(run.history)
            opt.step(closure)
            if len(run.history) == before:
                break
    except _Stop:
        pass
    finally:  # also on Ctrl-C: keep the best image, not a half-done line-search trial
        with torch.no_grad():
            x.copy_(best["x"])


def layer_grid(image, kind: str = "style", model: CourseModel | None = None, layers=None,
               size: int | None = None, steps: int | None = None, quiet: bool = False, config: StyleConfig | None = None):
    """The A-F figure: A the image, B-F reconstructed from noise by its style of layers {1}, {1,2}, ..., {1..5}
    (``kind="style"``) or by its content at layer 1, 2, ..., 5 (``kind="content"``) (slide: Artistic Style #7).

    Returns (images, titles).
    """
    config = config or StyleConfig()
    model = model or _bundled_model()
    size, steps = size or config.grid_size, steps or config.grid_steps
    if kind not in ("style", "content"):
        raise ValueError(tr("kind must be 'style' or 'content', got {kind!r}", kind=kind))
    layers = list(layers or default_layers(model)[1])
    images, titles = [_pixels(image, size)], [tr("A: the image")]
    for k, letter in zip(range(1, len(layers) + 1), "BCDEFGHIJ"):
        if kind == "style":
            used = layers[:k]
            result = transfer(image, image, model, content_layers=[], style_layers=used, alpha=0, beta=1,
                              steps=steps, init="noise", size=size, live=False, quiet=quiet, recipe="plain")
        else:
            used = layers[k - 1:k]
            result = transfer(image, None, model, content_layers=used, style_layers=[], alpha=1, beta=0,
                              steps=steps, init="noise", size=size, live=False, quiet=quiet, recipe="plain")
        images.append(result.image)
        if kind == "style" and k > 1:
            titles.append(tr("{letter}: style of {first}..{last}", letter=letter, first=used[0], last=used[-1]))
        elif kind == "style":
            titles.append(tr("{letter}: style of {last}", letter=letter, last=used[-1]))
        else:
            titles.append(tr("{letter}: content of {last}", letter=letter, last=used[-1]))
    return images, titles


def plot_history(history: dict, alpha: float = 1.0, beta: float = 1.0, ax=None):
    """Loss curves of a ``transfer``: alpha L_content, beta L_style and L_total per evaluation (log scale)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    for key, scale, label in (("total", 1.0, "L_total"), ("content", alpha, "α L_content"), ("style", beta, "β L_style")):
        values = [scale * v for v in history[key]]
        if any(v > 0 for v in values):
            ax.plot(values, label=label)
    ax.set(yscale="log", xlabel=tr("loss evaluation"), ylabel=tr("loss"))
    ax.legend()
    return ax
