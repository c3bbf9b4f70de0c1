"""Guided DeepDream: dream toward a guide image (beyond slide "Deep Dream #4").

Mordvintsev, Olah, Tyka, "Inceptionism: Going Deeper into Neural Networks" (Google Research blog, 2015),
and the "Controlling dreams" part of their DeepDream notebook. The plain dream of ``dream.py`` climbs the
squared norm of a layer's activations, so the photo grows whatever the layer already sees in it. The
guided dream climbs toward the features of a guide image y instead.

At layer l, let x_i (i = 1..M_x) be the dream's feature vectors (one per position, N_l channels) and y_j
(j = 1..M_y) the guide's. Each dream position picks the guide feature it agrees with most,

    j*(i) = argmax_j  x_i . y_j ,

and the dream climbs the sum of those dot products (averaged over positions, so the step size does not
depend on the image size):

    O_guided(x) = 1/M_x  sum_i  x_i . y_{j*(i)} .

The gradient w.r.t. x_i is y_{j*(i)}: every position is pushed toward the guide motif that already fits it
best, so the photo keeps its layout and grows the guide's flowers, eyes or swirls where they fit.
The octaves, jitter, tiling and step rule are ``dream.deep_dream``'s; only the objective changes.
"""
import torch
import torch.nn.functional as F

from .dream import DreamConfig, deep_dream
from .i18n import tr
from .images import image_to_tensor, load_image

GUIDE_SIZE = 224  # long side of the guide image: the scale at which the network saw ImageNet


def _vectors(A: torch.Tensor) -> torch.Tensor:
    """[1, N_l, H_l, W_l] activations -> [M_l, N_l]: one feature vector per position."""
    return A[0].flatten(1).T  # [M_l, N_l]


def _pixels(image, size) -> torch.Tensor:
    if isinstance(image, torch.Tensor):
        return image.detach().float()
    return image_to_tensor(load_image(image, max_size=size))  # [1, 3, H, W] in [0, 1]


@torch.no_grad()
def guide_features(model, guide, layer: str, size: int = GUIDE_SIZE) -> torch.Tensor:
    """y_j: the guide's feature vectors at ``layer``, [M_y, N_l] (guide: anything ``load_image`` takes)."""
    model.layer(layer)  # UnknownNameError that lists the layers, before any work
    y = _pixels(guide, size).to(model.device)
    return _vectors(model.features(model.to_input(y), layer)[layer])


def guided_objective(model, layer: str, Y: torch.Tensor):
    """O_guided(x) = 1/M_x sum_i x_i . y_{j*(i)} for network input x; Y = guide_features(...) [M_y, N_l]."""
    model.layer(layer)
    if Y.dim() != 2 or Y.shape[0] == 0:
        raise ValueError(tr("guide features must be a [positions, channels] tensor from guide_features(), got {shape}",
                            shape=list(Y.shape)))

    def objective(x):
        X = _vectors(model.features(x, layer)[layer])                          # [M_x, N_l]
        if X.shape[1] != Y.shape[1]:
            raise ValueError(tr("the guide's features have {guide} channels but layer {layer!r} has {n}: make them "
                                "with guide_features(model, guide, {layer!r})", guide=Y.shape[1], layer=layer, n=X.shape[1]))
        dots = X @ Y.to(X).T                                                   # [M_x, M_y]  x_i . y_j
        best = dots.detach().argmax(1)                                         # j*(i), held fixed for the gradient
        return dots.gather(1, best[:, None]).mean()                            # 1/M_x sum_i x_i . y_{j*(i)}

    objective.__name__ = tr("toward the guide at {layer}", layer=layer)     # the progress bar's label
    return objective


def guided_dream(model, image, guide, layer: str | None = None, *, guide_size: int = GUIDE_SIZE,
                 config: DreamConfig | None = None, seed: int = 0, live: bool = False, quiet: bool = False, **overrides):
    """DeepDream on ``image`` that grows the motifs of ``guide`` at ``layer`` (default: the config's layer).

    ``overrides`` (octaves, steps, step_size, ...) go to ``dream.deep_dream``. Returns (image [1, 3, H, W] in
    [0, 1], objective per step), as ``deep_dream`` does.
    """
    config = config or DreamConfig()
    layer = layer or config.objective
    if not isinstance(layer, str) or layer == "random_class":
        raise ValueError(tr("a guided dream needs a layer name (e.g. {example!r}), got {layer!r}",
                            example=DreamConfig().objective, layer=layer))
    objective = guided_objective(model, layer, guide_features(model, guide, layer, guide_size))
    return deep_dream(model, image, objective, config=config, seed=seed, live=live, quiet=quiet, **overrides)


@torch.no_grad()
def best_match_similarity(model, image, guide, layer: str, size: int | None = None,
                          guide_size: int = GUIDE_SIZE) -> float:
    """Mean over the image's positions of the best cosine similarity to any guide feature at ``layer``.

    1 when every feature vector of the image points exactly like one of the guide's; a judge of how far a
    dream moved toward its guide that ignores the features' lengths (which any dream inflates).
    """
    X = _vectors(model.features(model.to_input(_pixels(image, size).to(model.device)), layer)[layer])  # [M_x, N_l]
    Y = guide_features(model, guide, layer, guide_size)                                                  # [M_y, N_l]
    return (F.normalize(X, dim=1) @ F.normalize(Y, dim=1).T).max(1).values.mean().item()
