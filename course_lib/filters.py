"""Looking at the filters and activations of a network (slide "Визуализация фильтров нейронной сети").

A convolutional layer l holds filters w [C_out, C_in, k, k]. The first layer sees RGB pixels,
so each of its filters is a small colour image; shown side by side they are the oriented edges
and colour blobs of Krizhevsky et al. (2012, fig. 3) and Zeiler & Fergus, "Visualizing and
Understanding Convolutional Networks" (ECCV 2014, fig. 2). Deeper filters see C_in feature
maps, not colours: they are shown one input channel per tile (depthwise filters of
EfficientNet-Lite as one tile each, 1x1 convolutions as a C_out x C_in matrix).
The activation maps F^l [C_l, H_l, W_l] of an image show where each filter fires.
"""
import matplotlib.pyplot as plt
import torch
import torch.nn as nn

from .models import CourseModel, check_name


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
    if bad:
        raise ValueError(f"{what} {bad[0]} is out of range: this layer has {n} {what}s, 0..{n - 1}")
    return channels


def show_first_layer_filters(model: CourseModel, ncols: int = 8, size: float = 1.1):
    """The RGB filters of the first convolution as colour tiles (slide: Визуализация фильтров)."""
    w = conv_weight(model)                                        # [C_out, 3, k, k]
    if w.shape[1] != 3:
        raise ValueError(f"the first convolution of {model.name} has {w.shape[1]} input channels, not 3 (RGB)")
    tiles = normalise_filters(w).permute(0, 2, 3, 1)              # [C_out, k, k, 3]
    nrows = -(-len(tiles) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(tiles):
            ax.imshow(tiles[i].numpy(), interpolation="nearest")
            ax.set_title(str(i), fontsize=7)
    name = next(iter(conv_layers(model)))
    fig.suptitle(f"{model.name}: first layer {name}, {w.shape[0]} filters {w.shape[2]}x{w.shape[3]}x3")
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
        ax.set_xlabel("input channel"), ax.set_ylabel("filter (output channel)")
        ax.set_title(title + ": a 1x1 conv is a C_out x C_in matrix")
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
                ax.set_title(f"in {i}", fontsize=7)
    depthwise = module is not None and module.groups == module.in_channels and module.groups > 1
    note = "depthwise: each filter sees only its own channel" if depthwise else f"first {inputs} of {w.shape[1]} input channels"
    fig.suptitle(f"{title}, {note}", fontsize=9)
    fig.tight_layout()
    return fig


@torch.no_grad()
def activation_maps(model: CourseModel, x: torch.Tensor, layer: str, k: int = 16):
    """Top-k channels of F^l(x) by mean activation: (maps [k, H_l, W_l], channel indices [k], means [k]).

    (slide: Визуализация фильтров: "each filter of a layer matched to a fragment of the picture")"""
    F_l = model.features(x, [layer])[layer][0]                    # [C_l, H_l, W_l]
    if F_l.dim() != 3:
        raise ValueError(f"layer {layer!r} gives a vector of {F_l.numel()} values, not maps; pick a convolutional layer")
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
    axes.flat[0].set_title("input", fontsize=8)
    for ax, m, c, v in zip(axes.flat[1:], maps, channels, means):
        ax.imshow(m.numpy(), cmap="viridis", interpolation="nearest")
        ax.set_title(f"ch {c.item()} (mean {v.item():.2f})", fontsize=7)
    fig.suptitle(f"{model.name}: {layer}, top {len(maps)} of the channels by mean activation")
    fig.tight_layout()
    return fig

