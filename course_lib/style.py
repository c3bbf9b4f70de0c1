"""A Neural Algorithm of Artistic Style (slides "Artistic Style #1-#7").

Gatys, Ecker, Bethge, "A Neural Algorithm of Artistic Style", arXiv:1508.06576 (2015).

F^l [N_l, M_l]: the N_l filter responses of layer l at M_l positions for the generated
image x; C^l the same for the content image c, A^l the Gram matrix of the style image a.

    content (slide #2):  L_content = sum_l w_l sum_ij 1/2 (F^l_ij - C^l_ij)^2
    style   (slide #5):  G^l_ij = sum_k F^l_ik F^l_jk
                         E_l = 1/(4 N_l^2 M_l^2) sum_ij (G^l_ij - A^l_ij)^2,  L_style = sum_l w_l E_l
    eq. (2):             dE_l/dF^l_ij = 1/(N_l^2 M_l^2) ((F^l)^T (G^l - A^l))_ji  if F^l_ij > 0, else 0
    total   (slide #7):  L_total = alpha L_content + beta L_style

``transfer`` optimises the pixels of x with L-BFGS (or Adam) and lets autograd find the
gradient; ``style_layer_grad`` writes eq. (2) out, and the tests check the two agree.
"""
import functools
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .config import lecture_or_quick
from .images import ImageError, image_to_tensor, load_image, tensor_to_image
from .models import CourseModel, channels_last, load_model
from .i18n import tr
from .progress import Optimisation


def _as_matrices(F: torch.Tensor) -> torch.Tensor:
    """[N_l, M_l] and [B, N_l, M_l] stay; [B, N_l, H, W] -> [B, N_l, M_l] with M_l = H*W."""
    if F.dim() in (2, 3):
        return F
    if F.dim() == 4:
        return F.flatten(2)  # [B, N_l, M_l]
    raise ValueError(tr("expected features [N_l, M_l] or [B, N_l, H, W], got shape {shape}", shape=list(F.shape)))


def gram_matrix(F: torch.Tensor) -> torch.Tensor:
    """G = F F^T, no normalisation: [N_l, M_l] -> [N_l, N_l], [B, N_l, H, W] -> [B, N_l, N_l] (slide: Artistic Style #5)."""
    F = _as_matrices(F)
    return F @ F.transpose(-1, -2)  # G_ij = sum_k F_ik F_jk


def style_layer_loss(F: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """E_l = 1/(4 N_l^2 M_l^2) sum_ij (G_ij - A_ij)^2, summed over a batch (slide: Artistic Style #5)."""
    F = _as_matrices(F)
    N_l, M_l = F.shape[-2], F.shape[-1]
    G = gram_matrix(F)  # [N_l, N_l] or [B, N_l, N_l]
    return ((G - A) ** 2).sum() / (4 * N_l**2 * M_l**2)


def style_layer_grad(F: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """Eq. (2): dE_l/dF = 1/(N_l^2 M_l^2) ((F^T (G - A))^T) where F > 0, else 0; F [N_l, M_l] (slide: Artistic Style #5)."""
    if F.dim() != 2:
        raise ValueError(tr("eq. (2) is written for one matrix F [N_l, M_l], got shape {shape}", shape=list(F.shape)))
    N_l, M_l = F.shape
    G = gram_matrix(F)                             # [N_l, N_l]
    grad = (F.T @ (G - A)).T / (N_l**2 * M_l**2)   # [N_l, M_l]
    return grad * (F > 0)


def content_layer_loss(F: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """sum_ij 1/2 (F_ij - C_ij)^2 for one layer (slide: Artistic Style #2)."""
    return 0.5 * ((F - C) ** 2).sum()


def content_loss(features: dict, targets: dict, weights: dict) -> torch.Tensor:
    """L_content = sum_l w_l sum_ij 1/2 (F^l_ij - C^l_ij)^2 over the layers in ``weights`` (slide: Artistic Style #2)."""
    return sum(w * content_layer_loss(features[l], targets[l]) for l, w in weights.items())


def style_loss(features: dict, grams: dict, weights: dict) -> torch.Tensor:
    """L_style = sum_l w_l E_l over the layers in ``weights``; ``grams`` holds A^l (slide: Artistic Style #5)."""
    return sum(w * style_layer_loss(features[l], grams[l]) for l, w in weights.items())


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Total variation of an image batch [B, 3, H, W]: the sum of SQUARED neighbour differences.

    Not on the slides (a common smoothness prior, Mahendran & Vedaldi 2015): sum over
    pixels of (x[i+1, j] - x[i, j])^2 + (x[i, j+1] - x[i, j])^2.
    """
    if x.dim() != 4:
        raise ValueError(tr("expected an image batch [B, 3, H, W], got shape {shape}", shape=list(x.shape)))
    dy = x[:, :, 1:, :] - x[:, :, :-1, :]  # [B, 3, H-1, W]
    dx = x[:, :, :, 1:] - x[:, :, :, :-1]  # [B, 3, H, W-1]
    return (dy**2).sum() + (dx**2).sum()


# ---- transfer: optimise the pixels of x for L_total (slide: Artistic Style #7) ------------

# Per network: content layers, style layers (w_l = 1/5 each, as in Gatys) and the default
# beta/alpha at 256 px, which balances the two losses for that network's scale of activations.
# L_content sums over the M_l positions while E_l divides by M_l^2, so for another size the
# default beta is scaled by the area, (size / 256)^2: the same balance at every size.
# EfficientNet-Lite0: style at the ends of its first five stages (block0 /2, block2 /4,
# block4 /8, block7 /16, block10 /16), five scales like VGG's relu1_1..relu5_1; content at
# block7. Tried on the paintings: adding `stem` gives pixel noise, dropping block10 small
# strokes only, content at block4 keeps too little room for the style.
DEFAULT_LAYERS = {
    "efficientnet_lite0": (("block7",), ("block0", "block2", "block4", "block7", "block10"), 5e4),
    "vgg19": (("conv4_2",), ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), 1e3),
}
DEFAULT_LAYERS["vgg16"] = DEFAULT_LAYERS["vgg19"]

# recipe="plain" is the slide's L_total with the beta above. recipe="clean" (the default) adds, per
# network: beta scaled by ``beta_scale``, a total-variation term tv_weight = alpha * ``tv`` (squared
# neighbour differences, ``tv_loss``) and a canvas with a mirror-image border: ``pad`` px on every
# side, then up to ``align`` - 1 px more so that each side of the canvas is 1 (mod ``align``) px
# (see ``_frame``). EfficientNet-Lite0, measured with ``course_lib.style_checks`` on chelsea +
# swirls / Starry Night (256 px, 200 evaluations; numbers in notebook 06): its stride-2 stem and
# depthwise convolutions let pixel-sized speckle through unseen (colours in neither image,
# high-frequency energy 10x the photo's) - the TV term removes it; the style overwhelmed the cat at
# the plain beta - 0.4 of it keeps the cat and still paints it; the TensorFlow "same" padding of a
# stride-2 convolution is one-sided on an even side and leaves a coloured band on the top rows - on
# a canvas of 16 k + 1 px it is two-sided at every stride-2 layer up to block10 and the band does
# not form (top band 0.94 on Starry Night, 1.62 plain). That costs 1.05x the pixels of x; the
# earlier fix, a 16 px border that caught the band, cost 1.34x. (Tried and not kept: a 4 or 8 px
# border: a faint band at 4; random 1-2 px shifts between L-BFGS rounds, a sigmoid or blurred
# parameterisation of x, a border that passes no gradient: no better, the cat lost, or the style
# diluted.) VGG has no stride-2 convolutions: only the 16 px border, against its zero padding.
CLEAN = {"efficientnet_lite0": dict(beta_scale=0.4, tv=50.0, pad=0, align=16)}
CLEAN_OTHER = dict(beta_scale=1.0, tv=0.0, pad=16, align=1)
RECIPES = ("clean", "plain")


@dataclass
class StyleConfig:
    """Defaults of ``transfer`` and ``layer_grid`` (quick mode: tiny images, few evaluations)."""

    size: int = lecture_or_quick(256, 64)        # long side of the generated image x
    steps: int = lecture_or_quick(200, 30)       # loss evaluations (L-BFGS) or Adam steps
    adam_lr: float = 0.02
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


def transfer(content, style=None, model: CourseModel | None = None, content_layers=None, style_layers=None,
             alpha: float = 1.0, beta: float | None = None, style_weights=None, tv_weight: float | None = None,
             steps: int | None = None, optimizer: str = "lbfgs", init: str = "content", size: int | None = None,
             preserve_colour: bool = False, live: bool = True, quiet: bool = False, seed: int = 0,
             recipe: str = "clean", pad: int | None = None, config: StyleConfig | None = None) -> TransferResult:
    """x minimising L_total = alpha L_content + beta L_style + tv_weight TV (slide: Artistic Style #7).

    content: image (path, URL, PIL, ...) whose layout x keeps; style: one image, a list of
    images (mixed with ``style_weights``) or None (content only). alpha = 0 gives a pure
    style reconstruction. optimizer "lbfgs" (``steps`` = loss evaluations) or "adam";
    init "content", "noise" or "style". ``preserve_colour``: style only the luminance and
    keep the content's colours. Ctrl-C returns the current image; divergence the last good one.
    recipe "clean" (default) or "plain" (the slide's loss alone) sets the defaults of beta,
    ``tv_weight`` and ``pad`` (x is optimised on a canvas with a mirror-image border of ``pad`` px,
    and a few more where the recipe aligns the canvas to the network's strides, then cut out); see ``CLEAN``.
    """
    config = config or StyleConfig()
    model = model or _bundled_model()
    size, steps = size or config.size, steps or config.steps
    if content_layers is None or style_layers is None or beta is None:
        d_content, d_style, _ = default_layers(model)
        content_layers = d_content if content_layers is None else content_layers
        style_layers = d_style if style_layers is None else style_layers
        beta = default_beta(model, size, alpha, recipe) if beta is None else beta
    chosen = recipe_defaults(model, recipe)  # also checks the recipe's name
    tv_weight = alpha * chosen["tv"] if tv_weight is None else tv_weight
    pad = chosen["pad"] if pad is None else pad
    align = chosen["align"]
    content_layers, style_layers = list(content_layers), list(style_layers)
    if optimizer not in ("lbfgs", "adam"):
        raise ValueError(tr("optimizer must be 'lbfgs' or 'adam', got {optimizer!r}", optimizer=optimizer))
    if init not in ("content", "noise", "style"):
        raise ValueError(tr("init must be 'content', 'noise' or 'style', got {init!r}", init=init))
    if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
        raise ValueError(tr("pad must be a whole number of pixels >= 0, got {pad!r}", pad=pad))
    if not tv_weight >= 0:
        raise ValueError(tr("tv_weight must be >= 0, got {tv_weight!r}", tv_weight=tv_weight))
    for name in content_layers + style_layers:
        model.layer(name)  # UnknownNameError listing the valid names
    if not (alpha and content_layers) and not (beta and style_layers and style is not None):
        raise ValueError(tr("nothing to optimise: give a style image with beta > 0 and style layers, "
                            "or alpha > 0 and content layers"))

    c = _pixels(content, size)                                         # [1, 3, H, W]
    styles = [] if style is None else (list(style) if isinstance(style, (list, tuple)) else [style])
    v = list(style_weights) if style_weights is not None else [1 / max(1, len(styles))] * len(styles)
    if len(v) != len(styles):
        raise ValueError(tr("got {images} style images but {weights} style weights", images=len(styles), weights=len(v)))
    a_list = [_pixels(a, size) for a in styles]                        # [1, 3, H_a, W_a] each
    c_in, a_list = _luminance_only(c, a_list) if preserve_colour else (c, a_list)

    def features(x01, layers):
        return model.features(model.to_input(x01), layers)

    w_content = {l: 1.0 for l in content_layers}
    w_style = {l: 1.0 / max(1, len(style_layers)) for l in style_layers}
    with channels_last(model.net):  # targets and x through the same kernels: init="content" starts at L_content = 0
        with torch.no_grad():
            C = features(_frame(c_in, pad, align), content_layers) if alpha and content_layers else {}
            A_list = [{l: gram_matrix(F_l)[0] for l, F_l in features(_frame(a, pad, align), style_layers).items()}  # A^l [N_l, N_l]
                      for a in a_list] if beta and style_layers else []

        generator = torch.Generator().manual_seed(seed)
        x0 = {"content": c_in, "noise": torch.rand(c.shape, generator=generator),
              "style": torch.nn.functional.interpolate(a_list[0], size=c.shape[-2:], mode="bilinear") if a_list else c_in}[init]
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
            if optimizer == "adam":
                opt = torch.optim.Adam([x], lr=config.adam_lr)
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
    x = (run.best_image(x) if optimizer == "adam" else x.detach()).clamp(0, 1).cpu()
    left, right, top, bottom = _border(*c.shape[-2:], pad, align)
    x = x[..., top:x.shape[-2] - bottom, left:x.shape[-1] - right]  # [1, 3, H, W]: the border is dropped
    for key in history:
        del history[key][len(run.history):]  # drop the values of a diverged evaluation
    if preserve_colour:
        x = keep_colours(x, c)
    return TransferResult(x, history)


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
