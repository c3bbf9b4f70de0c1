"""The settings and recipes of Gatys style transfer: which layers, how much style, in what order of sizes.

Gatys, Ecker, Bethge, "A Neural Algorithm of Artistic Style", arXiv:1508.06576 (2015).

    L_total = alpha L_content + beta L_style + tv_weight TV       (slide: Artistic Style #7, plus a TV prior)

recipe="plain" is the slide's loss alone; "clean" adds what this network needs (``CLEAN``); "fast" is
"clean" run coarse to fine (``pyramid``): most evaluations on a small x, a few at full size.
Measurements behind every number: benchmarks/bench_style.py. ``TransferConfig`` holds one run's settings,
``settings`` fills in the model's and the recipe's defaults and checks every value.
"""
import dataclasses
from dataclasses import dataclass

from .config import lecture_or_quick
from .i18n import tr
from .models import CourseModel

# Per network: content layers, style layers (w_l = 1/5 each, as in Gatys) and beta/alpha at 256 px.
# E_l divides by M_l^2 while L_content sums over M_l, so beta scales with the area, (size / 256)^2.
# EfficientNet-Lite0: the ends of its first five stages, five scales like VGG's relu1_1..relu5_1
# (how they were chosen: benchmarks/bench_style.py).
DEFAULT_LAYERS = {
    "efficientnet_lite0": (("block7",), ("block0", "block2", "block4", "block7", "block10"), 5e4),
    "vgg19": (("conv4_2",), ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), 1e3),
}
DEFAULT_LAYERS["vgg16"] = DEFAULT_LAYERS["vgg19"]

# recipe="clean" scales beta by ``beta_scale``, adds tv_weight = alpha * ``tv`` (EfficientNet's stride-2 stem
# lets pixel speckle through unseen) and optimises x on a canvas with a mirror-image border (style_canvas.frame):
# ``pad`` px, and sides of 1 (mod ``align``) px so the TensorFlow "same" padding is two-sided and paints no band
# along the top.
CLEAN = {"efficientnet_lite0": dict(beta_scale=0.4, tv=50.0, pad=0, align=16)}
CLEAN_OTHER = dict(beta_scale=1.0, tv=0.0, pad=16, align=1)
PLAIN = dict(beta_scale=1.0, tv=0.0, pad=0, align=1)
RECIPES = ("clean", "plain", "fast")

# recipe="fast": the clean loss on a pyramid of sizes, (fraction of the long side, fraction of the config's
# evaluations) per stage, smallest first. A stage at half the side costs about a quarter per evaluation.
FAST_PYRAMID = ((0.25, 0.2), (0.5, 0.2), (1.0, 0.2))   # 256 px, 200: 40 at 64 px, 40 at 128, 40 at 256
MIN_STAGE_SIZE = 64  # px: below it block10 (1/16) has too few positions to carry a style


def default_layers(model: CourseModel):
    """(content layers, style layers, beta/alpha) for ``model``; see ``DEFAULT_LAYERS``."""
    if model.name not in DEFAULT_LAYERS:
        raise ValueError(tr("no default style layers for {model}; pass content_layers and style_layers (choose from {names})",
                            model=model.name, names=", ".join(model.layer_names)))
    return DEFAULT_LAYERS[model.name]


def recipe_defaults(model: CourseModel, recipe: str = "clean") -> dict:
    """{"beta_scale", "tv", "pad", "align"} of ``recipe`` for ``model``: "plain" the slide's loss, "clean" and "fast" ``CLEAN``."""
    if recipe not in RECIPES:
        raise ValueError(tr("recipe must be one of {recipes}, got {recipe!r}", recipes=", ".join(map(repr, RECIPES)), recipe=recipe))
    return dict(PLAIN) if recipe == "plain" else dict(CLEAN.get(model.name, CLEAN_OTHER))


def default_beta(model: CourseModel, size: int, alpha: float = 1.0, recipe: str = "clean") -> float:
    """The default beta for ``alpha`` at image size ``size``: beta/alpha of ``DEFAULT_LAYERS`` times (size/256)^2,
    times the recipe's ``beta_scale``."""
    return alpha * default_layers(model)[2] * (size / 256) ** 2 * recipe_defaults(model, recipe)["beta_scale"]


def pyramid(size: int, steps: int, recipe: str = "clean") -> list:
    """[(long side, evaluations)] of the stages of a run, smallest first (one stage unless recipe="fast").

    "fast" runs the stages of ``FAST_PYRAMID``; no stage is smaller than ``MIN_STAGE_SIZE`` px (nor than
    ``size``), a stage no larger than the one before is merged into it, and the last one is at ``size``.
    """
    if recipe != "fast":
        return [(size, steps)]
    stages = []
    for side, share in FAST_PYRAMID:
        stage = (size if side == 1.0 else max(min(size, MIN_STAGE_SIZE), round(size * side)), max(1, round(steps * share)))
        if stages and stage[0] <= stages[-1][0]:                   # a small image: one stage fewer
            stage = (stages[-1][0], stages.pop()[1] + stage[1])
        stages.append(stage)
    return stages


@dataclass
class TransferConfig:
    """The settings of one ``transfer`` (quick mode: tiny images, few evaluations); None: the model's default."""

    content_layers: tuple | None = None          # None: DEFAULT_LAYERS of the model
    style_layers: tuple | None = None
    alpha: float = 1.0                           # weight of L_content; 0: a pure style reconstruction
    beta: float | None = None                    # weight of L_style at ``size``; None: ``default_beta``
    style_weights: tuple | None = None           # mix of several style images; None: equal
    tv_weight: float | None = None               # None: the recipe's
    steps: int = lecture_or_quick(200, 30)       # loss evaluations (L-BFGS) or Adam steps ("fast": 0.6 of them)
    optimizer: str = "lbfgs"                     # or "adam"
    adam_lr: float = 0.02
    init: str = "content"                        # or "noise", "style"
    size: int = lecture_or_quick(256, 64)        # long side of the generated image x
    preserve_colour: bool = False                # style only the luminance; keep the content's colours
    seed: int = 0
    recipe: str = "clean"                        # "plain": the slide's loss alone; "fast": clean, coarse to fine
    pad: int | None = None                       # mirror-image border, px; None: the recipe's


@dataclass
class StyleConfig(TransferConfig):
    """``TransferConfig`` plus the sizes of ``layer_grid`` (the notebook's ``cfg``)."""

    grid_size: int = lecture_or_quick(160, 48)
    grid_steps: int = lecture_or_quick(100, 25)


@dataclass
class _Resolved(TransferConfig):
    align: int = 1


def settings(config: TransferConfig, model: CourseModel, overrides: dict) -> _Resolved:
    """``config`` with ``overrides`` applied, the model's and the recipe's defaults filled in, every value checked."""
    names = [f.name for f in dataclasses.fields(TransferConfig)]
    overrides = {n: v for n, v in overrides.items() if v is not None}   # None: keep the config's value
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise TypeError(tr("transfer() got unknown settings {unknown}; valid: {names}", unknown=", ".join(unknown),
                           names=", ".join(names)))
    cfg = _Resolved(**{n: overrides.get(n, getattr(config, n)) for n in names})
    chosen = recipe_defaults(model, cfg.recipe)  # also checks the recipe's name
    if cfg.content_layers is None or cfg.style_layers is None or cfg.beta is None:
        d_content, d_style, _ = default_layers(model)
        cfg.content_layers = d_content if cfg.content_layers is None else cfg.content_layers
        cfg.style_layers = d_style if cfg.style_layers is None else cfg.style_layers
        cfg.beta = default_beta(model, cfg.size, cfg.alpha, cfg.recipe) if cfg.beta is None else cfg.beta
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
