"""Grad-CAM and Guided Grad-CAM: which part of a layer's map speaks for class c (notebook 05b).

Selvaraju, Cogswell, Das, Vedantam, Parikh & Batra, "Grad-CAM: Visual Explanations from Deep
Networks via Gradient-based Localization" (ICCV 2017). For the activations A^k of a layer
(k = 1..K feature maps of h x w) and the class score S_c (before the softmax):

    alpha_k = 1/Z sum_ij dS_c / dA^k_ij, Z = h w     [K]      how much map k matters for c
    L_c     = ReLU( sum_k alpha_k A^k )               [h, w]   only what speaks *for* c
    map     = upsample(L_c) / max                     [H, W]   in [0, 1], bilinear to the image

Guided Grad-CAM multiplies it with guided backprop (notebook 05, slide "Saliency Maps #4"):
    G = w_guided * map                                [1, 3, H, W]
the sharp outline of guided backprop, kept only where Grad-CAM says class c lives.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .hooks import activation_and_gradient
from .i18n import tr
from .samples import image_tensor
from .models import CLASSIFY_SIZE, course_model
from .saliency import evaluating, saliency

POOLING = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


def default_layer(model) -> str:
    """The last layer before the classifier that is not a pooling layer: VGG relu5_3, EfficientNet head."""
    names = list(model.layers)
    first_linear = next((i for i, n in enumerate(names) if isinstance(model.layers[n], nn.Linear)), len(names))
    return next(n for n in reversed(names[:first_linear]) if not isinstance(model.layers[n], POOLING))


def grad_cam_weights(dA: torch.Tensor) -> torch.Tensor:
    """alpha_k = 1/Z sum_ij dS_c/dA^k_ij: the spatial mean of the gradient, [K, h, w] -> [K]."""
    return dA.mean(dim=(1, 2))


def grad_cam_map(A: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """L_c = ReLU(sum_k alpha_k A^k): A [K, h, w], alpha [K] -> [h, w]."""
    return torch.relu((alpha.view(-1, 1, 1) * A).sum(dim=0))


def cam_parts(model, x01: torch.Tensor, c: int, layer: str) -> dict:
    """One forward and backward pass: {"A": [K, h, w], "dA": [K, h, w], "alpha": [K], "L": [h, w], "S": S_c}."""
    module = model.layer(layer)
    I = model.to_input(x01).detach().requires_grad_(True)       # [1, 3, H, W]
    with evaluating(model.net), torch.enable_grad(), activation_and_gradient(module) as kept:
        S = model.net(I)                                         # [1, classes]
        if "A" not in kept or kept["A"].dim() != 4:
            shape = list(kept["A"].shape) if "A" in kept else "nothing"
            raise ValueError(tr("layer {layer} gives {shape}, not feature maps [1, K, h, w]; Grad-CAM needs a "
                                "convolutional layer, e.g. {default}", layer=layer, shape=shape, default=default_layer(model)))
        torch.autograd.grad(S[0, c], I)                          # fills kept["dA"]; parameters get no .grad
    A, dA = kept["A"][0], kept["dA"][0]                          # [K, h, w]
    alpha = grad_cam_weights(dA)                                 # [K]
    L = grad_cam_map(A, alpha)                                   # [h, w]
    return {"A": A, "dA": dA, "alpha": alpha, "L": L, "S": S[0, c].item()}


def upsampled(L: torch.Tensor, size) -> torch.Tensor:
    """[h, w] -> [H, W] bilinear, scaled to [0, 1] by its maximum (all zeros stays zeros)."""
    M = F.interpolate(L[None, None], size=tuple(size), mode="bilinear", align_corners=False)[0, 0]   # [H, W]
    return M / M.max() if M.max() > 0 else M


def grad_cam(model, image, target, layer: str | None = None, size: int = CLASSIFY_SIZE) -> torch.Tensor:
    """Grad-CAM of class ``target`` on ``layer`` (default: the last convolutional layer), [H, W] in [0, 1].

    Args:
        model: a course model (``load_model(...)``, any of the course's networks).
        image: a sample name, a path, a PIL image or a [1, 3, H, W] tensor in [0, 1].
        target: a class index or an ImageNet category name.
        layer: a layer name of ``model.layers`` whose output is feature maps.
        size: the long side an image is loaded at (a tensor keeps its size).
    """
    model = course_model(model, "grad_cam")
    x01 = image_tensor(image, size)
    layer = default_layer(model) if layer is None else layer
    parts = cam_parts(model, x01, model.class_index(target), layer)
    return upsampled(parts["L"], x01.shape[-2:])


def guided_grad_cam(model, image, target, layer: str | None = None, size: int = CLASSIFY_SIZE) -> torch.Tensor:
    """Guided backprop times Grad-CAM (Selvaraju et al. 2017): [1, 3, H, W], signed like ``saliency``."""
    model = course_model(model, "guided_grad_cam")
    x01 = image_tensor(image, size)
    cam = grad_cam(model, x01, target, layer)                            # [H, W]
    w = saliency(model, model.to_input(x01), target, "guided")           # [1, 3, H, W]
    return w * cam.to(w.device)
