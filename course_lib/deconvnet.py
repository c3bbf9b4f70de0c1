"""Feature visualisation with a deconvnet: the images that excite a unit most, beside its projection.

Slides "Визуализация признаков #1-#3", after Zeiler & Fergus, "Visualizing and Understanding
Convolutional Networks" (ECCV 2014), Fig. 2: for one channel c of a layer, over a pool of images,

    the top k images by  max_{positions} a_c(image)

each cropped around where the projection of its strongest unit lands (``support_box``), shown under
that projection. The projection itself (the mirror network, ``project``) is ``deconvnet_projection.py``;
its names are re-exported here, so ``deconvnet.project``, ``deconvnet.DeconvNet`` ... keep working.
"""
from dataclasses import dataclass, field

import torch
from PIL import Image

from .attribution import colour_image, evaluating
from .config import lecture_or_quick
from .deconvnet_projection import (DeconvNet, deconvolve, deconvolve_by_formula, keep_unit,  # re-exported: the
                                   project, show_projection, unpool)                        # notebooks use them
from .display import show_images
from .images import image_to_tensor, tensor_to_image
from .i18n import number, tr
from .samples import list_samples, sample_image


@dataclass
class PatchConfig:
    """Settings of the top-k patch search (slides: Визуализация признаков #1-#3)."""

    size: int = lecture_or_quick(224, 96)               # side of each image in the pool, pixels
    crop_scales: tuple = lecture_or_quick((0.5,), ())   # also 4 corner + 1 centre crops of these fractions
    top_k: int = lecture_or_quick(9, 4)
    samples: tuple = field(default_factory=lambda: tuple(list_samples()))
    batch: int = 8                                      # images per forward pass
    project_batch: int = 3                              # images per projection (bounds memory on Binder)


def image_pool(config: PatchConfig | None = None):
    """The offline samples, square, plus crops of them: ([P, 3, S, S] in [0, 1], P labels)."""
    config = config or PatchConfig()
    S, images, labels = config.size, [], []
    for name in config.samples:
        image = sample_image(name)
        w, h = image.size
        side = min(w, h)
        square = image.crop(((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side))
        crops = [(name, square)]
        for s in config.crop_scales:
            c = round(side * s)
            corners = {tr("top left"): (0, 0), tr("top right"): (side - c, 0), tr("bottom left"): (0, side - c),
                       tr("bottom right"): (side - c, side - c), tr("centre"): ((side - c) // 2, (side - c) // 2)}
            crops += [(tr("{name} {where} x{zoom:g}", name=name, where=where, zoom=1 / s), square.crop((u, v, u + c, v + c)))
                      for where, (u, v) in corners.items()]
        for label, crop in crops:
            images.append(image_to_tensor(crop.resize((S, S), Image.LANCZOS)))  # [1, 3, S, S]
            labels.append(label)
    return torch.cat(images), labels  # [P, 3, S, S]


@dataclass
class Patch:
    """One of the top-k: an image patch and its projection."""

    value: float            # the activation a_c at its strongest position
    label: str              # which image of the pool
    image: Image.Image      # the patch of the image around the unit
    projection: Image.Image  # the same patch of its deconvnet projection


def top_patches(model, layer: str, channel: int, pool=None, config: PatchConfig | None = None,
                method: str = "deconvnet", **averaging) -> list:
    """The ``top_k`` images of the pool that excite ``channel`` of ``layer`` most, each cropped around the
    projection of its strongest unit, beside that projection (Zeiler & Fergus, slides: Визуализация признаков #1-#3).

    ``averaging``: ``samples``, ``shift``, ``noise``, ``seed`` of ``project``.
    """
    config = config or PatchConfig()
    images, labels = pool if pool is not None else image_pool(config)   # [P, 3, S, S] in [0, 1]
    a = pool_activations(model, layer, images, config.batch)              # [P, C, h, w]
    x = model.to_input(images)
    if not 0 <= channel < a.shape[1]:
        raise ValueError(tr("channel {channel} is out of range 0..{last} for layer {layer}", channel=channel,
                            last=a.shape[1] - 1, layer=layer))
    best = a[:, channel].reshape(len(a), -1).amax(dim=1)               # [P] max over positions
    top = best.topk(min(config.top_k, len(best))).indices
    chunks = top.split(config.project_batch)  # a few at a time: the backward graph grows with the batch
    R = torch.cat([project(model, x[t], layer, channel, "max", method, **averaging) for t in chunks])   # [k, 3, S, S]
    pictures = colour_image(R)
    patches = []
    for n, i in enumerate(top.tolist()):
        left, top, right, bottom = support_box(R[n])
        box = (slice(None), slice(top, bottom), slice(left, right))    # [3, H, W] -> [3, side, side]
        patches.append(Patch(best[i].item(), labels[i], _to_pil(images[i][box]), _to_pil(pictures[n][box])))
    return patches


_last_pool = {}  # one entry: when only the channel changes (the widget), the layer's activations are reused


def pool_activations(model, layer: str, images: torch.Tensor, batch: int = 16) -> torch.Tensor:
    """Activations of ``layer`` for a pool of images [P, 3, S, S] in [0, 1], computed in batches."""
    net, pool, name = _last_pool.get("key", (None, None, None))
    if not (net is model.net and pool is images and name == layer):
        with torch.no_grad(), evaluating(model.net):
            x = model.to_input(images)
            a = torch.cat([model.features(x[i:i + batch], [layer])[layer] for i in range(0, len(x), batch)])
        _last_pool.update(key=(model.net, images, layer), a=a)                                  # a: [P, C, h, w]
    return _last_pool["a"]


def support_box(R: torch.Tensor, min_side: int = 16) -> tuple:
    """(left, top, right, bottom): a square around the projection, centre +- 2 standard deviations of |R|."""
    M = R.abs().amax(dim=0)                                              # [H, W]
    H, W = M.shape
    if M.sum() == 0:
        return 0, 0, W, H
    p_y, p_x = M.sum(1) / M.sum(), M.sum(0) / M.sum()                    # [H], [W] marginals of the mass
    y, x = torch.arange(H, dtype=M.dtype, device=M.device), torch.arange(W, dtype=M.dtype, device=M.device)
    c_y, c_x = (p_y * y).sum(), (p_x * x).sum()
    spread = max((p_y * (y - c_y) ** 2).sum().sqrt(), (p_x * (x - c_x) ** 2).sum().sqrt())
    side = min(max(round(4 * spread.item()) + 1, min_side), H, W)
    top = min(max(round(c_y.item()) - side // 2, 0), H - side)
    left = min(max(round(c_x.item()) - side // 2, 0), W - side)
    return left, top, left + side, top + side


def show_top_patches(patches: list, title: str = ""):
    """Projections (top row) above their image patches (bottom row), strongest first."""
    k = len(patches)
    return show_images([p.projection for p in patches] + [p.image for p in patches],
                       titles=[number(p.value, ".2f") for p in patches] + [p.label for p in patches],
                       ncols=k, size=2.0, suptitle=title)


def _to_pil(t: torch.Tensor) -> Image.Image:
    """[3, h, w] in [0, 1] -> PIL image, small patches enlarged to 96 px so they are visible."""
    return tensor_to_image(t).resize((96, 96), Image.NEAREST) if min(t.shape[1:]) < 96 else tensor_to_image(t)
