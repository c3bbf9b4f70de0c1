"""The peer recipe: Gatys as the PyTorch tutorial "Neural Transfer Using PyTorch" runs it (written here from its text).

VGG19 features cut after its fifth convolution; content at the fourth, style at the first five convolutions
(before their ReLUs); a mean-squared content loss (weight 1) and Gram matrices divided by their number of
elements with a mean-squared style loss (weight 1e6); L-BFGS with its defaults (no line search, 20 iterations
per step) on a square image initialised with the photo, clamped to [0, 1] before every evaluation.
Only its time is compared (bench_style.py): the weights are ImageNet's where cached, else random (the same
arithmetic, so the same time).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib.models import is_cached, load_model
from course_lib.style_canvas import pixels

STYLE_WEIGHT, CONTENT_WEIGHT, LAST_CONV = 1e6, 1.0, 5


def _gram(F_l: torch.Tensor) -> torch.Tensor:
    b, n, h, w = F_l.shape
    F_l = F_l.reshape(b * n, h * w)                                  # [N_l, M_l]
    return F_l @ F_l.T / (b * n * h * w)


def truncated_vgg19() -> tuple:
    """(the layers up to the fifth convolution as one nn.Sequential, ReLUs not in place), ImageNet mean and std."""
    model = load_model("vgg19", device="cpu", pretrained=is_cached("vgg19"))
    layers, convs = [], 0
    for module in model.net.features:
        layers.append(nn.ReLU(inplace=False) if isinstance(module, nn.ReLU) else module)
        convs += isinstance(module, nn.Conv2d)
        if convs == LAST_CONV:
            break
    return nn.Sequential(*layers).eval(), model.mean, model.std


def tutorial_transfer(content, style, vgg: tuple, size: int = 256, evaluations: int = 200) -> torch.Tensor:
    """The tutorial's recipe on ``size`` x ``size`` images: ``evaluations`` loss evaluations, x [1, 3, size, size].

    ``vgg``: ``truncated_vgg19()`` (built once, outside the timing).
    """
    net, mean, std = vgg
    square = lambda image: F.interpolate(pixels(image, size), size=(size, size), mode="bilinear", antialias=True)  # noqa: E731

    def convs(x):
        out = []
        for module in net:
            x = module(x)
            if isinstance(module, nn.Conv2d):
                out.append(x)                                       # conv_1 .. conv_5, before the ReLU
        return out

    c, a = square(content), square(style)
    with torch.no_grad():
        C = convs((c - mean) / std)[3]
        A = [_gram(F_l) for F_l in convs((a - mean) / std)]
    x = c.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x])
    count = [0]

    def closure():
        with torch.no_grad():
            x.clamp_(0, 1)
        opt.zero_grad()
        F_x = convs((x - mean) / std)
        loss = CONTENT_WEIGHT * F.mse_loss(F_x[3], C) + STYLE_WEIGHT * sum(F.mse_loss(_gram(f), g) for f, g in zip(F_x, A))
        loss.backward()
        count[0] += 1
        return loss

    while count[0] < evaluations:
        opt.param_groups[0]["max_eval"] = min(25, evaluations - count[0])   # exactly ``evaluations`` in all
        opt.step(closure)
    with torch.no_grad():
        return x.clamp_(0, 1).detach()
