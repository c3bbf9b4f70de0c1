"""Occlusion sensitivity: hide a square of the image and watch the class (notebook 05b).

Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks" (ECCV 2014), section 4.2
and figure 7 (slides "Deconvolutional networks"): a grey square of side ``window`` is slid over the
image in steps of ``stride``; for each position p the network sees the image I_p with the square
replaced by the baseline x' (grey, or any reference image), and we record how much a quantity q drops:

    d_p     = q(I) - q(I_p)                        one number per position of the square
    M_ij    = mean of d_p over the squares p that cover pixel (i, j)          [H, W]

q is the probability of class c (figure 7 (d)), or the total activation of one feature map of a
layer, by default the one with the strongest response on the unoccluded image (figure 7 (b)).
No gradient is involved: occlusion asks the network, pixel block by pixel block, hundreds of times
(400 forward passes at 224 px, window 32, stride 8); they run on ``inference_model``'s copy of the net
(BatchNorm folded into the convolutions, channels-last): the same function, about twice as fast.
"""
import torch

from .config import lecture_or_quick
from .i18n import tr
from .samples import baseline_tensor, image_tensor
from .inference_net import inference_model
from .models import CLASSIFY_SIZE, course_model
from .saliency import evaluating

WINDOW = 32                          # side of the grey square, pixels (at 224 px)
STRIDE = lecture_or_quick(8, 16)     # its step
BATCH = 4                            # occluded images per forward pass: 4 beat 32 in each of 3 interleaved
                                     # runs on 2 busy cores (1.1x-2.2x; a big batch leaves the caches)


def starts(length: int, window: int, stride: int) -> list:
    """Top (or left) edges of the squares: every ``stride`` px, and the last one flush with the edge."""
    last = length - window
    return sorted(set(range(0, last + 1, stride)) | {last})


def check_window(x01: torch.Tensor, window, stride) -> None:
    for name, value in (("window", window), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(tr("{name} must be a whole number of pixels >= 1, got {value}", name=name, value=repr(value)))
    H, W = x01.shape[-2:]
    if window > min(H, W):
        raise ValueError(tr("the square ({window} px) is larger than the image ({H} x {W} px)", window=window, H=H, W=W))
    if stride > window:
        raise ValueError(tr("stride {stride} is larger than the square {window}: some pixels would never be covered",
                            stride=stride, window=window))


def quantity(model, layer: str | None, c: int | None, channel: int | None):
    """q(images in [0, 1]) -> [N]: p_c, or the total activation of ``channel`` of ``layer``."""
    if layer is None:
        return lambda x01: model.net(model.to_input(x01)).softmax(dim=1)[:, c]
    return lambda x01: model.features(model.to_input(x01), [layer])[layer][:, channel].flatten(1).sum(dim=1)


def strongest_channel(model, image, layer: str, size: int = CLASSIFY_SIZE) -> int:
    """The feature map of ``layer`` with the strongest single response on the image (Zeiler & Fergus fig. 7 (b))."""
    x01 = image_tensor(image, size)
    with torch.inference_mode(), evaluating(model.net):
        a = model.features(model.to_input(x01), [layer])[layer]           # [1, C, h, w], the net run only up to layer
    if a.dim() != 4:
        raise ValueError(tr("layer {layer} gives {shape}, not feature maps [1, K, h, w]", layer=layer, shape=list(a.shape)))
    return a[0].flatten(1).amax(dim=1).argmax().item()


def occlusion_grid(model, x01: torch.Tensor, q, window: int, stride: int, baseline, batch: int = BATCH):
    """d_p for every position: ([n_y, n_x] drops, top edges, left edges). x01: [1, 3, H, W] in [0, 1]."""
    H, W = x01.shape[-2:]
    tops, lefts = starts(H, window, stride), starts(W, window, stride)
    grey = baseline_tensor(baseline, x01)
    positions = [(t, l) for t in tops for l in lefts]
    drops = []
    with torch.inference_mode(), evaluating(model.net):                   # no gradient: no autograd bookkeeping
        q0 = q(x01)                                                        # [1]
        for k in range(0, len(positions), batch):
            chunk = positions[k:k + batch]
            I = x01.repeat(len(chunk), 1, 1, 1)                            # [n, 3, H, W]
            for n, (t, l) in enumerate(chunk):
                I[n, :, t:t + window, l:l + window] = grey[0, :, t:t + window, l:l + window]
            drops.append(q0 - q(I))                                        # [n]
    return torch.cat(drops).view(len(tops), len(lefts)).cpu(), tops, lefts


def spread(d: torch.Tensor, tops, lefts, window: int, size) -> torch.Tensor:
    """M_ij: the mean drop of the squares covering each pixel. d: [n_y, n_x] -> [H, W]."""
    total, count = torch.zeros(size), torch.zeros(size)
    for a, t in enumerate(tops):
        for b, l in enumerate(lefts):
            total[t:t + window, l:l + window] += d[a, b]
            count[t:t + window, l:l + window] += 1
    return total / count


def occlusion_map(model, image, target=None, window: int = WINDOW, stride: int = STRIDE, baseline=0.5,
                  layer: str | None = None, channel: int | None = None, size: int = CLASSIFY_SIZE,
                  batch: int = BATCH, fast: bool = True) -> torch.Tensor:
    """Zeiler & Fergus's occlusion map: the drop of p_target (or of a feature map's activation), [H, W].

    Args:
        model: a course model (any of the course's networks).
        image: a sample name, a path, a PIL image or a [1, 3, H, W] tensor in [0, 1].
        target: a class index or name (needed unless ``layer`` is given).
        window, stride: side and step of the square, in pixels.
        baseline: what covers the square: a grey level in [0, 1] (0.5: mid grey) or an image tensor.
        layer, channel: measure the total activation of this feature map instead of p_target;
            ``channel`` None: the strongest on the unoccluded image (``strongest_channel``).
        size: the long side an image is loaded at (a tensor keeps its size).
        batch: occluded images per forward pass (bounds memory).
        fast: run the passes on ``inference_model(model)`` (the same numbers up to float rounding);
            False: on the network as it is.
    """
    model = course_model(model, "occlusion_map")
    x01 = image_tensor(image, size).to(model.device)
    check_window(x01, window, stride)
    if layer is None:
        if target is None:
            raise ValueError(tr("occlusion_map needs a target class, or a layer whose feature map to watch"))
        c = model.class_index(target)
    else:
        model.layer(layer)                                   # a clear error for an unknown name
        channel = strongest_channel(model, x01, layer) if channel is None else channel
        with torch.inference_mode():
            K = model.features(model.to_input(x01), [layer])[layer].shape[1]
        if not 0 <= channel < K:
            raise ValueError(tr("channel {channel} is out of range 0..{last} for layer {layer}", channel=channel,
                                last=K - 1, layer=layer))
        c = None
    runner = inference_model(model) if fast else model
    d, tops, lefts = occlusion_grid(runner, x01, quantity(runner, layer, c, channel), window, stride, baseline, batch)
    return spread(d, tops, lefts, window, tuple(x01.shape[-2:]))
