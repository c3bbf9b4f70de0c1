"""Integrated gradients: the gradient summed along the straight path from a baseline (notebook 05b).

Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks" (ICML 2017). For the image x,
a baseline x' (black, grey, a blurred copy) and F = the probability p_c of class c:

    IG_i = (x_i - x'_i) * integral_0^1 dF/dx_i (x' + a (x - x')) da                [1, 3, H, W]
         ~ (x_i - x'_i) * sum_{k=1..m} w_k dF/dx_i (x' + a_k (x - x'))

    midpoint rule (the slide):  a_k = (k - 1/2)/m,                 w_k = 1/m
    Gauss-Legendre ("gauss"):   a_k = (t_k + 1)/2,  w_k = v_k/2     (t_k, v_k: the m-point rule on [-1, 1])

Completeness (the axiom that defines it): sum_i IG_i = F(x) - F(x'). The plain gradient
(notebook 05) is the integrand at one point; where the ReLUs saturate it says little, and IG adds
up the whole path. The sum's error falls as the m steps grow; the steps go through the
network in batches, on ``inference_model``'s copy of the net (BatchNorm folded: the same function,
forward and backward faster). Attributions are in image space (x in [0, 1]).

Why the midpoint rule stays the default (issue 29; bundled net, 224 px, error of completeness for the top
class, from a black / a grey baseline): the integrand is not smooth (each ReLU6 that switches along the path
puts a jump into dF/dx), so Gauss-Legendre's high order buys nothing, and both rules' errors fall erratically:

    photo       midpoint m = 64    256            Gauss-Legendre m = 32    64
    chelsea         0.8 / 1.3      0.7 / 0.06                     5.1 / 1.0   3.6 / 0.6   %
    coffee          1.8 / 1.3      2.0 / 0.14                     9.5 / 2.9   2.6 / 0.3   %
    astronaut       2.0 / 2.1      1.2 / 0.06                     6.3 / 4.5   2.8 / 0.2   %
    rocket          1.5 / 2.1      0.15 / 0.10                    5.3 / 1.1   3.0 / 4.6   %

No rule stays under 1 % at the ~40 gradients a second buys on a CPU (issue 29 asked for that); 256 midpoint
steps do from grey, from black not always. For a class the photo is not (F(x) - F(x') of a few per cent)
even 256 steps leave 10-40 %: the relative error of a small difference. Placing the points where F changes
(16 forward passes along the path, then 48 midpoints shared out by each stretch's change of F) was measured
too: 0.4-3.6 % on the same eight cases, no steadier than 48 equal steps (0.2-9 %), so it is not offered.
"""
import numpy as np
import torch

from .i18n import tr
from .inference_net import inference_model
from .samples import baseline_tensor, image_tensor
from .models import CLASSIFY_SIZE, course_model
from .saliency import evaluating

STEPS = 256                          # m: under 1 % on the course's photos from grey (64: up to 2 %), see above
BATCH = 4                            # path points per forward/backward pass, on the folded net at 224 px
RULES = ("midpoint", "gauss")


def quadrature(rule: str, steps: int) -> tuple:
    """(a_k, w_k), k = 1..m: the points on the path [0, 1] and their weights (they sum to 1)."""
    if rule not in RULES:
        raise ValueError(tr("unknown rule {rule!r}; choose one of {rules}", rule=rule, rules=", ".join(RULES)))
    if rule == "midpoint":
        return (np.arange(steps) + 0.5) / steps, np.full(steps, 1 / steps)
    t, v = np.polynomial.legendre.leggauss(steps)          # on [-1, 1]: map to [0, 1]
    return (t + 1) / 2, v / 2


def rule_title(rule: str) -> str:
    """The name of a quadrature rule as the notebook prints it."""
    return {"midpoint": tr("midpoint rule"), "gauss": tr("Gauss–Legendre")}[rule]


def probability(model, x01: torch.Tensor, c: int) -> torch.Tensor:
    """F(x) = p_c: the softmax probability of class c, [N] for images [N, 3, H, W] in [0, 1]."""
    return model.net(model.to_input(x01)).softmax(dim=1)[:, c]


def path_integral(F, x: torch.Tensor, baseline: torch.Tensor, steps: int, batch: int | None = None,
                  rule: str = "midpoint") -> torch.Tensor:
    """IG of any differentiable F: [n, *x.shape] -> [n], at one input x (no batch dimension): x.shape.

    (x - x') * sum_k w_k dF/dx at the points x' + a_k (x - x') of ``rule``, ``batch`` points per pass.
    """
    a, w = (torch.as_tensor(v, dtype=x.dtype, device=x.device) for v in quadrature(rule, steps))   # [m], [m]
    total = torch.zeros_like(x)                                                     # sum_k w_k dF/dx(a_k)
    with torch.enable_grad():
        for a_chunk, w_chunk in zip(a.split(batch or steps), w.split(batch or steps)):
            X = (baseline + a_chunk.view(-1, *[1] * x.dim()) * (x - baseline)).detach().requires_grad_(True)  # [n, *x.shape]
            total += torch.autograd.grad(F(X), X, grad_outputs=w_chunk)[0].sum(dim=0)   # sum_n w_n dF_n/dX_n
    return (x - baseline) * total


def integrated_gradients(model, image, target, steps: int = STEPS, baseline=0.0, size: int = CLASSIFY_SIZE,
                         batch: int = BATCH, rule: str = "midpoint", fast: bool = True) -> torch.Tensor:
    """IG of the probability of ``target`` (Sundararajan et al. 2017), [1, 3, H, W] in image space.

    Args:
        model: a course model (any of the course's networks).
        image: a sample name, a path, a PIL image or a [1, 3, H, W] tensor in [0, 1].
        target: a class index or an ImageNet category name.
        steps: m, the points of the quadrature rule.
        baseline: x', a grey level in [0, 1] (0: black) or an image tensor [1, 3, H, W].
        size: the long side an image is loaded at (a tensor keeps its size).
        batch: path points per forward/backward pass (bounds memory).
        rule: "midpoint" (the slide's formula) or "gauss" (Gauss-Legendre), see the module's docstring.
        fast: run on ``inference_model(model)`` (the same numbers up to float rounding); False: the net as it is.
    """
    model = course_model(model, "integrated_gradients")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(tr("steps must be a whole number >= 1, got {value}", value=repr(steps)))
    x01 = image_tensor(image, size).to(model.device)
    x0 = baseline_tensor(baseline, x01)
    c = model.class_index(target)
    runner = inference_model(model) if fast else model
    with evaluating(runner.net):
        IG = path_integral(lambda X: probability(runner, X, c), x01[0], x0[0], steps, batch, rule)   # [3, H, W]
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
