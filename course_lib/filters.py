"""Looking at the filters and activations of a network (slide "Визуализация фильтров нейронной сети").

A convolutional layer l holds filters w [C_out, C_in, k, k]. The first layer sees RGB pixels,
so each of its filters is a small colour image; shown side by side they are the oriented edges
and colour blobs of Krizhevsky et al. (2012, fig. 3) and Zeiler & Fergus, "Visualizing and
Understanding Convolutional Networks" (ECCV 2014, fig. 2). Deeper filters see C_in feature
maps, not colours: they are shown one input channel per tile (depthwise filters of
EfficientNet-Lite as one tile each, 1x1 convolutions as a C_out x C_in matrix).
The activation maps F^l [C_l, H_l, W_l] of an image show where each filter fires.

Effective filters: what a unit of a deeper layer computes from the pixels of its receptive field,
as the best linear filter (notebook 01). For the centre unit F_c of layer l and noise images
I = grey + sigma * eps, eps ~ N(0, 1) per pixel and colour:

    w_c = E[ dF_c / dI ]                      the mean gradient ("gradient")
    w_c = E[ F_c(I) * eps ] / sigma            reverse correlation ("reverse_correlation"),
                                               the spike-triggered average of the physiologists
                                               (Jones & Palmer 1987 mapped simple cells this way)

Both estimate the same w_c: for Gaussian eps, E[F(grey + sigma eps) eps] = sigma E[dF/dI] (Stein's
lemma); the mean gradient gets there with far fewer samples.
"""
import math

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import lecture_or_quick

from .models import CourseModel, check_name
from .i18n import tr, trn


def conv_layers(model: CourseModel) -> dict:
    """{name: nn.Conv2d} in forward order; the course's layer name where it has one (conv1_1), else the module path."""
    course_names = {id(m): n for n, m in model.layers.items()}
    return {course_names.get(id(m), path): m for path, m in model.net.named_modules() if isinstance(m, nn.Conv2d)}


def conv_weight(model: CourseModel, conv: str | None = None) -> torch.Tensor:
    """Weights [C_out, C_in/groups, k_h, k_w] of a named convolution; ``None``: the first one."""
    convs = conv_layers(model)
    if conv is None:
        return next(iter(convs.values())).weight.detach().cpu()
    check_name("convolution", conv, convs)
    return convs[conv].weight.detach().cpu()


def normalise_filters(w: torch.Tensor) -> torch.Tensor:
    """Per-filter scaling to [0, 1] with 0 -> grey 0.5: 0.5 + w / (2 max|w|), each filter on its own."""
    scale = w.flatten(1).abs().amax(dim=1).clamp_min(1e-12)       # [C_out]
    return 0.5 + 0.5 * w / scale.view(-1, *[1] * (w.dim() - 1))


def check_channels(channels, n: int, what: str = "channel") -> list:
    channels = list(range(n)) if channels is None else [int(c) for c in channels]
    bad = [c for c in channels if not 0 <= c < n]
    if bad and what == "filter":
        raise ValueError(trn("filter {bad} is out of range: this layer has {n} filter, 0..{last}",
                             "filter {bad} is out of range: this layer has {n} filters, 0..{last}", n, bad=bad[0], last=n - 1))
    if bad:
        raise ValueError(trn("channel {bad} is out of range: this layer has {n} channel, 0..{last}",
                             "channel {bad} is out of range: this layer has {n} channels, 0..{last}", n, bad=bad[0], last=n - 1))
    return channels


def show_first_layer_filters(model: CourseModel, ncols: int = 8, size: float = 1.1):
    """The RGB filters of the first convolution as colour tiles (slide: Визуализация фильтров)."""
    w = conv_weight(model)                                        # [C_out, 3, k, k]
    if w.shape[1] != 3:
        raise ValueError(tr("the first convolution of {name} has {n} input channels, not 3 (RGB)",
                               name=model.name, n=w.shape[1]))
    tiles = normalise_filters(w).permute(0, 2, 3, 1)              # [C_out, k, k, 3]
    nrows = -(-len(tiles) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(tiles):
            ax.imshow(tiles[i].numpy(), interpolation="nearest")
            ax.set_title(str(i), fontsize=7)
    name = next(iter(conv_layers(model)))
    fig.suptitle(trn("{model}: first layer {name}, {n} filter {k}x{k}x3", "{model}: first layer {name}, {n} filters {k}x{k}x3",
                     w.shape[0], model=model.name, name=name, k=w.shape[2]))
    fig.tight_layout()
    return fig


def show_filters(model: CourseModel, conv: str, channels=0, rows: int = 6, max_inputs: int = 16, size: float = 0.9):
    """Filters of a deeper convolution: one row per output channel, one grey tile per input channel
    (slide: Визуализация фильтров).

    ``channels``: a list of filters, or the first of ``rows`` consecutive ones."""
    module = conv_layers(model).get(conv) if conv is not None else None
    w = conv_weight(model, conv)                                  # [C_out, C_in/groups, k, k]
    if isinstance(channels, int):
        check_channels([channels], w.shape[0], "filter")
        channels = range(channels, min(channels + rows, w.shape[0]))
    channels = check_channels(channels, w.shape[0], "filter")
    title = f"{model.name}: {conv} {tuple(w.shape)}"
    if w.shape[-1] == 1 and w.shape[-2] == 1:                     # 1x1 conv: mixes channels, no spatial pattern
        fig, ax = plt.subplots(figsize=(8, 0.3 * len(channels) + 1.5))
        m = w[channels, :, 0, 0]                                  # [len(channels), C_in]
        lim = m.abs().max().item() or 1.0
        ax.imshow(m.numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
        ax.set_yticks(range(len(channels)), [str(c) for c in channels])
        ax.set_xlabel(tr("input channel")), ax.set_ylabel(tr("filter (output channel)"))
        ax.set_title(tr("{title}: a 1x1 conv is a C_out x C_in matrix", title=title))
        return fig
    inputs = min(w.shape[1], max_inputs)
    tiles = normalise_filters(w[channels, :inputs])               # [len(channels), inputs, k, k]
    fig, axes = plt.subplots(len(channels), inputs, figsize=(size * inputs + 1, size * len(channels) + 0.8), squeeze=False)
    for r, row in enumerate(axes):
        for i, ax in enumerate(row):
            ax.imshow(tiles[r, i].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_ylabel(str(channels[r]), rotation=0, labelpad=12)
            if r == 0 and inputs > 1:
                ax.set_title(tr("in {i}", i=i), fontsize=7)
    depthwise = module is not None and module.groups == module.in_channels and module.groups > 1
    note = (tr("depthwise: each filter sees only its own channel") if depthwise
            else tr("first {shown} of {n} input channels", shown=inputs, n=w.shape[1]))
    fig.suptitle(f"{title}, {note}", fontsize=9)
    fig.tight_layout()
    return fig


@torch.no_grad()
def activation_maps(model: CourseModel, x: torch.Tensor, layer: str, k: int = 16):
    """Top-k channels of F^l(x) by mean activation: (maps [k, H_l, W_l], channel indices [k], means [k]).

    (slide: Визуализация фильтров: "each filter of a layer matched to a fragment of the picture")"""
    F_l = model.features(x, [layer])[layer][0]                    # [C_l, H_l, W_l]
    if F_l.dim() != 3:
        raise ValueError(tr("layer {layer!r} gives a vector of {n} values, not maps; pick a convolutional layer",
                              layer=layer, n=F_l.numel()))
    means = F_l.mean(dim=(1, 2))                                  # [C_l]
    top = means.topk(min(k, len(means)))
    return F_l[top.indices].cpu(), top.indices.cpu(), top.values.cpu()


def show_activation_maps(model: CourseModel, x: torch.Tensor, layer: str, k: int = 16, ncols: int = 8):
    """The image and its k most active feature maps of ``layer`` (each map scaled on its own)."""
    maps, channels, means = activation_maps(model, x, layer, k)
    nrows = -(-(len(maps) + 1) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols, 1.7 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes.flat[0].imshow(model.deprocess(x))
    axes.flat[0].set_title(tr("input"), fontsize=8)
    for ax, m, c, v in zip(axes.flat[1:], maps, channels, means):
        ax.imshow(m.numpy(), cmap="viridis", interpolation="nearest")
        ax.set_title(tr("ch {c} (mean {mean:.2f})", c=c.item(), mean=v.item()), fontsize=7)
    fig.suptitle(trn("{model}: {layer}, the {n} channel with the largest mean activation",
                     "{model}: {layer}, the {n} channels with the largest mean activation", len(maps), model=model.name, layer=layer))
    fig.tight_layout()
    return fig



# ---- effective filters: the linear filter of a deeper unit, in pixels ----------------------

EFFECTIVE_METHODS = ("gradient", "reverse_correlation")


def effective_filters(model: CourseModel, layer: str, channels=None, method: str = "gradient",
                      samples: int = lecture_or_quick(16, 2), sigma: float = 0.1, size: int = 48,
                      background: float = 0.5, seed: int = 0, batch: int = 16) -> torch.Tensor:
    """Effective filters w_c [len(channels), 3, size, size] of the centre units of ``layer`` (notebook 01).

    ``method``: "gradient" (mean of dF_c/dI over ``samples`` noise images background + sigma * eps, in
    [0, 1] pixel units, grey 0.5 by default; ``samples=1, sigma=0``: the gradient at the plain background) or "reverse_correlation"
    (mean of F_c(I) * eps / sigma; needs thousands of samples). The filter is per unit of the [0, 1] image.
    Use ``crop_to_field`` to cut out the receptive field. The model is left untouched."""
    check_name("layer", layer, model.layers)
    if method not in EFFECTIVE_METHODS:
        raise ValueError(tr("unknown method {method!r}; choose one of {methods}", method=method, methods=", ".join(EFFECTIVE_METHODS)))
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(tr("{name} must be a whole number >= 1, got {value!r}", name="samples", value=samples))
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(tr("size is the side of the noise images in pixels, a whole number >= 8, got {size!r}", size=size))
    if not sigma >= 0 or (method == "reverse_correlation" and sigma == 0):
        raise ValueError(tr("sigma must be >= 0 (> 0 for reverse correlation), got {sigma!r}", sigma=sigma))
    generator, total = torch.Generator().manual_seed(seed), None
    for start in range(0, samples, batch):
        n = min(batch, samples - start)
        eps = torch.randn(n, 3, size, size, generator=generator)                   # [n, 3, S, S]
        I = (background + sigma * eps).to(model.device).requires_grad_(method == "gradient")
        with torch.set_grad_enabled(method == "gradient"):
            F_l = model.features(model.to_input(I), [layer])[layer]                # [n, C_l, H_l, W_l]
            if F_l.dim() != 4:
                raise ValueError(tr("layer {layer!r} gives a vector, not maps; pick a convolutional layer", layer=layer))
            F_c = F_l[:, :, F_l.shape[2] // 2, F_l.shape[3] // 2]                  # [n, C_l] the centre units
            chosen = check_channels(channels, F_c.shape[1])
            F_c = F_c[:, chosen]
            if method == "gradient":
                w = torch.stack([torch.autograd.grad(F_c[:, k].sum(), I, retain_graph=k < len(chosen) - 1)[0].sum(0)
                                 for k in range(len(chosen))])                     # [K, 3, S, S]
            else:
                w = torch.einsum("nk,nchw->kchw", F_c.detach(), eps.to(F_c.device)) / sigma
        total = w.cpu() if total is None else total + w.cpu()
    return total / samples


def crop_to_field(w: torch.Tensor, threshold: float = 0.02, energy: float | None = None) -> torch.Tensor:
    """Cut filters [K, 3, S, S] to one square for all of them.

    Default: the receptive field the filters use, the square around the pixels where any of them exceeds
    ``threshold`` of its own largest value. With ``energy`` (e.g. 0.95): the *effective* receptive field,
    the smallest square that holds that share of the filters' energy sum w^2 (each filter weighted
    alike); a deep unit's weight falls off fast from the centre (Luo et al. 2016), so this square is
    much smaller than the receptive field, and the filter fills its tile."""
    if energy is not None:
        rows, cols = effective_field(w, energy)
        return w[:, :, rows, cols]
    M = (w.abs().amax(dim=1) / w.flatten(1).abs().amax(1).clamp_min(1e-12).view(-1, 1, 1)).amax(0)   # [S, S]
    rows, cols = (M > threshold).any(1).nonzero(), (M > threshold).any(0).nonzero()
    if len(rows) == 0:
        return w
    top, bottom, left, right = rows.min().item(), rows.max().item() + 1, cols.min().item(), cols.max().item() + 1
    side = max(bottom - top, right - left)
    top, left = min(top, w.shape[2] - side), min(left, w.shape[3] - side)
    return w[:, :, top:top + side, left:left + side]


def effective_field(w: torch.Tensor, energy: float = 0.95) -> tuple:
    """(rows, cols) slices of the smallest square holding ``energy`` of the energy of filters w [K, 3, h, w]."""
    if not 0 < energy <= 1:
        raise ValueError(tr("energy is a share of the filters' energy, in (0, 1], got {energy!r}", energy=energy))
    E = w.pow(2).sum(dim=1)                                                        # [K, h, w]
    E = (E / E.flatten(1).sum(1).clamp_min(1e-30).view(-1, 1, 1)).sum(0)           # [h, w], each filter alike
    E = E / E.sum().clamp_min(1e-30)
    for side in range(1, min(E.shape) + 1):
        inside = F.avg_pool2d(E[None, None], side, stride=1)[0, 0] * side ** 2    # energy of every side x side square
        if inside.max() >= energy - 1e-6:
            top, left = divmod(inside.argmax().item(), inside.shape[1])
            return slice(top, top + side), slice(left, left + side)
    return slice(0, w.shape[-2]), slice(0, w.shape[-1])


def linear_tuning(w: torch.Tensor, experiment) -> torch.Tensor:
    """Tuning curves [K, n_angles] predicted by effective filters w [K, 3, S, S] alone (notebook 01).

    The Hubel & Wiesel sweep of ``experiment`` (a ``HubelWieselExperiment``; its stimulus side must be S)
    with each unit replaced by its linear filter: R = max(<w, bar>, 0) (the blank screen is black, 0),
    the best over the sweep's positions at each angle."""
    bars = experiment.bars(experiment.angles, experiment.positions)                # [A*P, 3, S, S]
    if bars.shape[-2:] != w.shape[-2:]:
        raise ValueError(tr("filters of {h}x{w} px, stimuli of {sh}x{sw} px: compute the filters with size={sw}",
                            h=w.shape[-2], w=w.shape[-1], sh=bars.shape[-2], sw=bars.shape[-1]))
    R = torch.einsum("kchw,bchw->kb", w, bars).clamp_min(0)                        # [K, A*P]
    return R.view(len(w), len(experiment.angles), -1).amax(dim=2)                 # [K, A]


def angle_difference(a, b) -> torch.Tensor:
    """|a - b| between orientations in degrees, modulo 180 (0..90)."""
    d = (torch.as_tensor(a, dtype=torch.float32) - torch.as_tensor(b, dtype=torch.float32)) % 180
    return torch.minimum(d, 180 - d)


def show_effective_filters(model: CourseModel, w: torch.Tensor, channels, layer: str, ncols: int = 8,
                           size: float = 1.8, titles=None, raw: bool = True, energy: float | None = 0.95):
    """Effective filters [K, 3, h, w] as large colour tiles, pixels drawn as squares (grey 0, each scaled on
    its own), cut to the effective receptive field (``crop_to_field`` with ``energy``; ``None``: as given);
    with ``raw`` the first ``ncols`` raw 3x3 stem filters in the top row for comparison."""
    shown = w if energy is None else crop_to_field(w, energy=energy)                # [K, 3, s, s]
    stem = normalise_filters(conv_weight(model)).permute(0, 2, 3, 1)[:ncols] if raw else []   # [ncols, 3, 3, 3]
    tiles = normalise_filters(shown).permute(0, 2, 3, 1)                            # [K, s, s, 3]
    rows_raw, rows_eff = int(raw), -(-len(tiles) // ncols)
    fig, axes = plt.subplots(rows_raw + rows_eff, ncols, figsize=(size * ncols, (size + 0.3) * (rows_raw + rows_eff) + 0.5),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, tile) in enumerate(zip(axes[0], stem)):
        ax.imshow(tile.numpy(), interpolation="nearest")
        ax.set_title(tr("stem {i}, 3x3", i=i), fontsize=10)
    for i, (ax, tile) in enumerate(zip(axes[rows_raw:].flat, tiles)):
        ax.imshow(tile.numpy(), interpolation="nearest")
        ax.set_title(titles[i] if titles else tr("{layer} ch {c}", layer=layer, c=channels[i]), fontsize=10)
    what = (tr("{model}: raw stem weights (top) and effective filters of {layer} ({h}x{w} px)") if raw
            else tr("{model}: effective filters of {layer} ({h}x{w} px)"))
    what = what.format(model=model.name, layer=layer, h=shown.shape[-2], w=shown.shape[-1])
    if shown.shape[-2:] != w.shape[-2:]:
        what += tr(", the centre that holds {energy:.0%} of their energy (of {h}x{w} px)", energy=energy,
                   h=w.shape[-2], w=w.shape[-1])
    fig.suptitle(what, fontsize=11)
    fig.tight_layout()
    return fig
