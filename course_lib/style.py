"""A Neural Algorithm of Artistic Style (slides "Artistic Style #1-#7").

Gatys, Ecker, Bethge, "A Neural Algorithm of Artistic Style", arXiv:1508.06576 (2015).

x is the generated image, c the content image, a the style image; L_content and L_style are the slide's
losses, written out in ``style_losses`` (re-exported here):

    total   (slide #7):  L_total = alpha L_content + beta L_style

This module is the driver: ``transfer`` optimises the pixels of x with L-BFGS (or Adam), its settings in one
``TransferConfig``; the settings and recipes (layers, beta, TV, the coarse-to-fine pyramid of "fast") are in
``style_recipes``, x's canvas and colours in ``style_canvas``.
"""
import functools
from typing import NamedTuple

import torch

from .i18n import tr
from .images import tensor_to_image
from .models import CourseModel, channels_last, load_model
from .progress import Optimisation
from .style_canvas import border as _border, frame as _frame, keep_colours, luminance as _luminance  # noqa: F401
from .style_canvas import luminance_only, pixels as _pixels, unframe
from .style_losses import (content_layer_loss, content_loss, gram_matrix, style_layer_grad,  # noqa: F401 (the slide's
                           style_layer_loss, style_loss, tv_loss)                            # formulas, re-exported)
from .style_recipes import (CLEAN, CLEAN_OTHER, DEFAULT_LAYERS, RECIPES, StyleConfig, TransferConfig,  # noqa: F401
                            default_beta, default_layers, pyramid, recipe_defaults, settings as _settings)  # (re-exported)


class TransferResult(NamedTuple):
    image: torch.Tensor   # x: [1, 3, H, W] in [0, 1]
    history: dict         # {"total", "content", "style", "tv"}: one value per evaluation


@functools.lru_cache(maxsize=1)
def _bundled_model() -> CourseModel:
    return load_model()


def transfer(content, style=None, model: CourseModel | None = None, config: TransferConfig | None = None, *,
             live: bool = True, quiet: bool = False, watch=None, **settings) -> TransferResult:
    """x minimising L_total = alpha L_content + beta L_style + tv_weight TV (slide: Artistic Style #7).

    content: image (path, URL, PIL, ...) whose layout x keeps; style: one image, a list of
    images (mixed with ``style_weights``) or None (content only). ``config`` (a ``TransferConfig``)
    holds the settings; keywords (``size=``, ``beta=``, ``recipe=``, ...) override its fields.
    ``recipe="fast"`` runs the stages of ``style_recipes.pyramid``, small to full size, each starting from
    the last one's x scaled up. ``watch(evaluation, x)``, if given, sees x [1, 3, h, w] after every evaluation.
    Ctrl-C returns the current image; divergence the last good one.
    """
    model = model or _bundled_model()
    cfg = _settings(config or TransferConfig(), model, settings)
    if not (cfg.alpha and cfg.content_layers) and not (cfg.beta and cfg.style_layers and style is not None):
        raise ValueError(tr("nothing to optimise: give a style image with beta > 0 and style layers, "
                            "or alpha > 0 and content layers"))
    styles = [] if style is None else (list(style) if isinstance(style, (list, tuple)) else [style])
    v = list(cfg.style_weights) if cfg.style_weights is not None else [1 / max(1, len(styles))] * len(styles)
    if len(v) != len(styles):
        raise ValueError(tr("got {images} style images but {weights} style weights", images=len(styles), weights=len(v)))

    stages = pyramid(cfg.size, cfg.steps, cfg.recipe)                 # [(long side, evaluations)], small to full
    history = {"total": [], "content": [], "style": [], "tv": []}
    now = {}                                                           # the current stage: its canvas and content
    with channels_last(model.net), Optimisation(sum(n for _, n in stages), tr("style transfer"), live=live,
                                                to_image=tensor_to_image, quiet=quiet) as run:
        for size, steps in stages:
            c = _pixels(content, size)                                 # [1, 3, H, W]
            a_list = [_pixels(a, size) for a in styles]                # [1, 3, H_a, W_a] each
            c_in, a_list = luminance_only(c, a_list) if cfg.preserve_colour else (c, a_list)
            x0 = _start(cfg, c_in, a_list) if not now else \
                torch.nn.functional.interpolate(now["x"](), size=c.shape[-2:], mode="bilinear")   # the last stage's x, scaled up
            beta = cfg.beta * (size / cfg.size) ** 2                  # the same balance at every size (style_recipes)
            _stage(model, cfg, c, c_in, a_list, v, x0, beta, steps, run, history, now, watch)
            if run.stopped:
                break
    x = now["x"]().clamp(0, 1).cpu()                                   # [1, 3, H, W]: the border is dropped
    for key in history:
        del history[key][len(run.history):]  # drop the values of a diverged evaluation
    if cfg.preserve_colour:
        x = keep_colours(x, now["c"])
    return TransferResult(x, history)


def _start(cfg, c_in, a_list) -> torch.Tensor:
    """x at the first evaluation: the content, noise, or the (first) style image at the content's size."""
    if cfg.init == "noise":
        return torch.rand(c_in.shape, generator=torch.Generator().manual_seed(cfg.seed))
    if cfg.init == "style" and a_list:
        return torch.nn.functional.interpolate(a_list[0], size=c_in.shape[-2:], mode="bilinear")
    return c_in


def _stage(model, cfg, c, c_in, a_list, v, x0, beta, steps, run, history, now, watch):
    """``steps`` evaluations of L_total at one size, x starting at ``x0``; ``now["x"]()`` gives x without its border."""
    content_layers, style_layers, alpha, tv_weight = list(cfg.content_layers), list(cfg.style_layers), cfg.alpha, cfg.tv_weight
    pad, align, (H, W) = cfg.pad, cfg.align, c.shape[-2:]

    def features(x01, layers):
        return model.features(model.to_input(x01), layers)            # stops after the deepest of ``layers``

    w_content = {l: 1.0 for l in content_layers}
    w_style = {l: 1.0 / max(1, len(style_layers)) for l in style_layers}
    with torch.no_grad():  # targets and x through the same kernels: init="content" starts at L_content = 0
        C = features(_frame(c_in, pad, align), content_layers) if alpha and content_layers else {}
        A_list = [{l: gram_matrix(F_l)[0] for l, F_l in features(_frame(a, pad, align), style_layers).items()}  # A^l [N_l, N_l]
                  for a in a_list] if beta and style_layers else []
    x = _frame(x0, pad, align).clone().to(model.device).requires_grad_(True)  # the canvas: x in a mirror-image border

    def picture():  # adam: the last good x after a divergence (L-BFGS puts its best x back itself)
        best = run.best_image(x) if cfg.optimizer == "adam" else x.detach()
        return unframe(best if best.shape == x.shape else x.detach(), H, W, pad, align)
    now.update(c=c, x=picture)

    def loss_of(x):
        F = features(x, content_layers + style_layers if A_list else content_layers)
        L_content = content_loss(F, C, w_content) if C else x.new_zeros(())
        L_style = sum((v_s * style_loss(F, A, w_style) for v_s, A in zip(v, A_list)), x.new_zeros(()))
        L_tv = tv_loss(x) if tv_weight else x.new_zeros(())
        total = alpha * L_content + beta * L_style + tv_weight * L_tv
        for key, value in zip(history, (total, L_content, L_style, L_tv)):
            history[key].append(value.item())
        return total

    def step(loss) -> bool:
        going = run.step(loss.detach(), x)
        if going and watch is not None:
            watch(len(run.history), unframe(x.detach(), H, W, pad, align).clamp(0, 1))
        return going

    if cfg.optimizer == "adam":
        opt = torch.optim.Adam([x], lr=cfg.adam_lr)
        for _ in range(steps):
            opt.zero_grad()
            loss = loss_of(x)
            loss.backward()
            if not step(loss):
                break
            opt.step()
            with torch.no_grad():
                x.clamp_(0, 1)
    else:
        _lbfgs(x, loss_of, step, len(run.history) + steps, run)


class _Stop(Exception):
    """Ends L-BFGS from inside its closure: budget spent or loss diverged."""


def _lbfgs(x, loss_of, step, until, run):
    """L-BFGS over the pixels of x, one ``step(loss)`` per loss evaluation, until ``run`` holds ``until`` evaluations.

    The line search also evaluates trial points, so x ends as the best image evaluated.
    """
    budget = until - len(run.history)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=budget, max_eval=budget, history_size=20,
                            tolerance_grad=0, tolerance_change=0, line_search_fn="strong_wolfe")
    best = {"loss": float("inf"), "x": x.detach().clone()}

    def closure():
        if len(run.history) >= until:
            raise _Stop
        opt.zero_grad()
        loss = loss_of(x)
        loss.backward()
        if not step(loss):
            raise _Stop
        if loss.item() < best["loss"]:
            best.update(loss=loss.item(), x=x.detach().clone())
        return loss

    try:
        while len(run.history) < until:
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
