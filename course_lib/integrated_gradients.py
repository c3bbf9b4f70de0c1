"""Integrated gradients: the gradient summed along the straight path from a baseline (notebook 05b).

Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks" (ICML 2017). For the image x,
a baseline x' (black, grey, a blurred copy) and F = the probability p_c of class c:

    IG_i = (x_i - x'_i) * integral_0^1 dF/dx_i (x' + a (x - x')) da                [1, 3, H, W]
         ~ (x_i - x'_i) * 1/m sum_{k=1..m} dF/dx_i (x' + (k - 1/2)/m (x - x'))      (midpoint rule)

Completeness (the axiom that defines it): sum_i IG_i = F(x) - F(x'). The plain gradient
(notebook 05) is the integrand at one point; where the ReLUs saturate it says little, and IG adds
up the whole path. The sum's error falls as the m steps grow; the steps go through the
network in batches. Attributions are in image space (x in [0, 1]).
"""
import torch

from .i18n import tr
from .samples import baseline_tensor, image_tensor
from .models import CLASSIFY_SIZE, course_model
from .saliency import evaluating

STEPS = 256                          # m: keeps the completeness error under 1 % on the course's photos (64: up to 5 %)
BATCH = 2                            # path points per forward/backward pass: 2 ran 1.1x faster than 8 at 224 px
                                     # on 2 busy cores (a big batch leaves the caches; 16: 1.9 GB peak)


def probability(model, x01: torch.Tensor, c: int) -> torch.Tensor:
    """F(x) = p_c: the softmax probability of class c, [N] for images [N, 3, H, W] in [0, 1]."""
    return model.net(model.to_input(x01)).softmax(dim=1)[:, c]


def path_integral(F, x: torch.Tensor, baseline: torch.Tensor, steps: int, batch: int | None = None) -> torch.Tensor:
    """IG of any differentiable F: [n, *x.shape] -> [n], at one input x (no batch dimension): x.shape.

    (x - x') * 1/m sum_k dF/dx at the midpoints x' + (k - 1/2)/m (x - x'), ``batch`` points per pass.
    """
    a = (torch.arange(steps, dtype=x.dtype, device=x.device) + 0.5) / steps        # [m]  the midpoints a_k
    total = torch.zeros_like(x)                                                     # sum_k dF/dx at the midpoints
    with torch.enable_grad():
        for chunk in a.split(batch or steps):
            X = (baseline + chunk.view(-1, *[1] * x.dim()) * (x - baseline)).detach().requires_grad_(True)  # [n, *x.shape]
            total += torch.autograd.grad(F(X).sum(), X)[0].sum(dim=0)
    return (x - baseline) * total / steps


def integrated_gradients(model, image, target, steps: int = STEPS, baseline=0.0, size: int = CLASSIFY_SIZE,
                         batch: int = BATCH) -> torch.Tensor:
    """IG of the probability of ``target`` (Sundararajan et al. 2017), [1, 3, H, W] in image space.

    Args:
        model: a course model (any of the course's networks).
        image: a sample name, a path, a PIL image or a [1, 3, H, W] tensor in [0, 1].
        target: a class index or an ImageNet category name.
        steps: m, the points of the midpoint rule.
        baseline: x', a grey level in [0, 1] (0: black) or an image tensor [1, 3, H, W].
        size: the long side an image is loaded at (a tensor keeps its size).
        batch: path points per forward/backward pass (bounds memory).
    """
    model = course_model(model, "integrated_gradients")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(tr("steps must be a whole number >= 1, got {value}", value=repr(steps)))
    x01 = image_tensor(image, size).to(model.device)
    x0 = baseline_tensor(baseline, x01)
    c = model.class_index(target)
    with evaluating(model.net):
        IG = path_integral(lambda X: probability(model, X, c), x01[0], x0[0], steps, batch)   # [3, H, W]
    return IG[None]


def completeness_error(model, image, target, attributions: torch.Tensor, baseline=0.0,
                       size: int = CLASSIFY_SIZE) -> dict:
    """{"sum": sum_i IG_i, "difference": F(x) - F(x'), "error": |sum - difference| / |difference|}."""
    model = course_model(model, "completeness_error")
    x01 = image_tensor(image, size).to(model.device)
    c = model.class_index(target)
    with torch.no_grad(), evaluating(model.net):
        difference = (probability(model, x01, c) - probability(model, baseline_tensor(baseline, x01), c)).item()
    total = attributions.sum().item()
    return {"sum": total, "difference": difference, "error": abs(total - difference) / max(abs(difference), 1e-12)}
