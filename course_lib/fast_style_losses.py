"""The perceptual loss of fast style transfer (slide "Artistic Style #7", with notebook 06's formulas).

Johnson, Alahi, Fei-Fei, ECCV 2016: the transformer f_W is trained on many photos c with the
loss Gatys et al. minimise for one picture (content, Gram style, a small smoothness term), plus
a colour term:

    L(c) = alpha L_content(f_W(c), c) + beta L_style(a, f_W(c)) + delta L_colour(a, f_W(c)) + gamma TV(f_W(c))

L_content, L_style and TV are ``course_lib.style_losses``; F^l, C^l, A^l, N_l, M_l as on slides #2 and #5.

L_colour is not on the slides: Gram matrices hardly see colour, so a net trained on them alone
may paint colours the painting never had. It compares the colour *distributions* of y and a, one
direction at a time (the sliced Wasserstein distance; Rabin, Peyre, Delon, Bernot 2011; Heitz et
al., "A Sliced Wasserstein Loss for Neural Texture Synthesis", CVPR 2021): project every pixel's
RGB on K fixed unit vectors d_k, sort, and compare the sorted values of the P pixels of y with the
style's at the same quantiles:

    L_colour(a, y) = 1/(K P) sum_k sum_p ( sort(y . d_k)_p - Q_k((p + 1/2) / P) )^2

Q_k the quantile function of a . d_k. It is zero exactly when every projection of y has the
style's distribution, whatever the pixels' positions.
"""
import math

import torch

from .i18n import tr
from .style_losses import content_loss, gram_matrix, style_loss, tv_loss

COLOUR_DIRECTIONS = 32  # K of L_colour
COLOURS = "colours"  # the key of sort(a . d_k) among the style's targets


def style_grams(model, style, size: int, layers) -> dict:
    """A^l / M_l: the Gram matrices of the style image a (long side ``size``), per position; and, under
    ``COLOURS``, its pixels' colours projected on each d_k and sorted (the target of L_colour).

    G^l sums over the M_l positions, so it grows with the image; dividing here and multiplying
    by the M_l of the generated image lets E_l (slide #5) compare images of different sizes.
    """
    for name in layers:
        model.layer(name)  # UnknownNameError that lists the valid names
    x = model.preprocess(style, size)
    with torch.no_grad():
        features = model.features(x, list(layers))
        a = model.from_input(x)[0].flatten(1)                                           # [3, M_a] RGB in [0, 1]
    grams = {l: gram_matrix(F) / (F.shape[-2] * F.shape[-1]) for l, F in features.items()}  # [1, N_l, N_l]
    return {**grams, COLOURS: sorted_colours(a)}


def colour_directions(K: int = COLOUR_DIRECTIONS) -> torch.Tensor:
    """d_k: K unit vectors spread evenly over the sphere of RGB directions (a Fibonacci lattice), [K, 3]."""
    k = torch.arange(K, dtype=torch.float32) + 0.5
    z = 1 - 2 * k / K                                   # evenly spaced heights: equal areas of the sphere
    phi = math.pi * (3 - math.sqrt(5)) * k              # golden-angle turns: no two directions line up
    r = (1 - z**2).sqrt()
    return torch.stack([r * phi.cos(), r * phi.sin(), z], 1)


def sorted_colours(a: torch.Tensor, directions=None) -> torch.Tensor:
    """sort(a . d_k): the style's pixels a [3, M_a] projected on each d_k and sorted, [M_a, K]."""
    d = colour_directions() if directions is None else directions
    return (a.T @ d.to(a).T).sort(0).values


def colour_loss(y, colours, directions=None) -> torch.Tensor:
    """L_colour(a, y) summed over the batch: y [B, 3, H, W] in [0, 1], colours = sorted_colours(a) [M_a, K]."""
    d = colour_directions(colours.shape[1]) if directions is None else directions
    B, P = y.shape[0], y.shape[-2] * y.shape[-1]
    projected = (y.flatten(2).transpose(1, 2) @ d.to(y).T).sort(1).values              # [B, P, K] sort(y . d_k)
    quantile = ((torch.arange(P, device=y.device) + 0.5) / P * colours.shape[0]).long()  # Q_k((p + 1/2) / P)
    return ((projected - colours.to(y)[quantile]) ** 2).mean((1, 2)).sum()


def perceptual_loss(model, y, c, grams, config, delta=None) -> tuple:
    """(total, content, style) per image: alpha L_content(y, c) + beta L_style(a, y) + delta L_colour(a, y) + gamma TV(y) (slide #7).

    ``grams``: the style's targets from ``style_grams``; ``delta`` (default config.delta): ``train`` ramps it up.
    """
    layers = list(dict.fromkeys([*config.content_layers, *config.style_layers]))
    F = model.features(model.to_input(y), layers)                     # {l: [B, N_l, H_l, W_l]}
    with torch.no_grad():
        C = model.features(model.to_input(c), list(config.content_layers))
    A = {l: grams[l] * (F[l].shape[-2] * F[l].shape[-1]) for l in config.style_layers}  # scaled to M_l of y
    B = y.shape[0]
    content = content_loss(F, C, config.content_layers) / B
    style = style_loss(F, A, config.style_layers) / B
    total = config.alpha * content + config.beta * style + config.gamma * tv_loss(y) / B
    delta = config.delta if delta is None else delta
    if delta:
        if COLOURS not in grams:
            raise ValueError(tr("config.delta > 0 needs the style's colours: make the targets with style_grams(model, a, size, layers)"))
        total = total + delta * colour_loss(y, grams[COLOURS]) / B
    return total, content, style
