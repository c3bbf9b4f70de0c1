"""The cases of the attribution exercises (notebook ``08_grad_cam_and_ig``): Grad-CAM and integrated gradients.

Same engine and rules as ``exercises`` (which re-exports these checkers): seeded hidden inputs in
float64, the answers from the reference modules ``grad_cam`` and ``integrated_gradients``
(imported by name: the package's ``grad_cam`` is the public function).

    alpha_k = 1/Z sum_ij dS_c/dA^k_ij                  Selvaraju et al. 2017 (Grad-CAM)
    L_c     = ReLU(sum_k alpha_k A^k)
    IG(x)   = (x - x') * 1/m sum_k dF/dx (x' + (k - 1/2)/m (x - x'))      Sundararajan et al. 2017

``check_integrated_gradients`` also checks the completeness axiom sum_i IG_i = F(x) - F(x') on the
hidden function, and that its error falls as the steps m grow.
"""
import torch
import torch.nn as nn

from . import hooks
from .grad_cam import grad_cam_map as reference_map, grad_cam_weights as reference_weights
from .integrated_gradients import path_integral
from .checker import check, error_line, fresh
from .i18n import tr


def _randn(generator, *shape):
    return torch.randn(*shape, generator=generator, dtype=torch.float64)


# --- Grad-CAM (Selvaraju et al. 2017; notebook 05b) ---

def _tiny_cam_net():
    """Conv - ReLU - conv - ReLU - global average pool - linear, float64, seeded (the global RNG is left alone)."""
    with torch.random.fork_rng():
        torch.manual_seed(1)
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 6, 3), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3)).double().eval()


def _network_parts(generator):
    """(A, dA) of a small conv net's second convolution for class 1: a real layer's maps [6, 5, 6] and gradient."""
    net = _tiny_cam_net()
    x = _randn(generator, 1, 3, 9, 10)
    with hooks.activation_and_gradient(net[2]) as kept:
        S = net(x.requires_grad_(True))                             # [1, 3]
        torch.autograd.grad(S[0, 1], x)
    return kept["A"][0], kept["dA"][0]                               # [K, h, w] each


def check_grad_cam_weights(grad_cam_weights, seed=0) -> bool:
    """grad_cam_weights(dA) -> alpha [K], alpha_k = 1/Z sum_ij dS_c/dA^k_ij (Grad-CAM, Selvaraju et al. 2017)."""
    generator = torch.Generator().manual_seed(seed)
    cases = [(_randn(generator, K, h, w),) for K, h, w in [(4, 5, 5), (8, 3, 7), (1, 2, 2)]]
    cases.append((_network_parts(generator)[1],))
    return check(grad_cam_weights, reference_weights, cases)


def check_grad_cam_map(grad_cam_map, seed=0) -> bool:
    """grad_cam_map(A, alpha) -> L [h, w] = ReLU(sum_k alpha_k A^k) (Grad-CAM, Selvaraju et al. 2017)."""
    generator = torch.Generator().manual_seed(seed)
    cases = [(_randn(generator, K, h, w).relu(), _randn(generator, K)) for K, h, w in [(4, 5, 5), (8, 3, 7), (2, 6, 4)]]
    A, dA = _network_parts(generator)
    cases.append((A, reference_weights(dA)))
    return check(grad_cam_map, reference_map, cases)


# --- integrated gradients (Sundararajan et al. 2017; notebook 05b) ---

class _SmoothFunction:
    """A hidden test function F(x) = sigmoid(w · tanh(W x + b)) in (0, 1), like a class probability.

    [n, *shape] -> [n]: one value per point of a batch."""

    def __init__(self, seed, shape, hidden=8):
        generator = torch.Generator().manual_seed(seed)
        inputs = torch.Size(shape).numel()
        self.shape = torch.Size(shape)
        self.W = _randn(generator, hidden, inputs) / inputs ** 0.5      # [hidden, D]: tanh mostly unsaturated
        self.b, self.w = _randn(generator, hidden), _randn(generator, hidden)

    def __call__(self, X):
        if not isinstance(X, torch.Tensor) or X.shape[1:] != self.shape:
            got = tr("shape {shape}", shape=list(X.shape)) if isinstance(X, torch.Tensor) else type(X).__name__
            raise ValueError(tr("F takes a batch of points [n, {shape}] (one per row) and returns [n]; it got {got}. "
                                "Stack the path points into one tensor, or add the batch dimension to one point "
                                "with x[None].", shape=", ".join(map(str, self.shape)), got=got))
        hidden = torch.tanh(X.flatten(1).double() @ self.W.T + self.b)       # [n, hidden]
        return torch.sigmoid(hidden @ self.w)                                 # [n]

    def __repr__(self):
        return "F"


def _ig_cases(seed):
    """(F, x, baseline x', steps m): a vector, a small image with a black baseline, one with a random baseline."""
    generator = torch.Generator().manual_seed(seed)
    cases = []
    for i, (shape, baseline, steps) in enumerate([((6,), "random", 8), ((3, 5, 5), "black", 16),
                                                  ((2, 4, 3), "random", 5)]):
        x = _randn(generator, *shape)
        x0 = _randn(generator, *shape) if baseline == "random" else torch.zeros(shape, dtype=torch.float64)
        cases.append((_SmoothFunction(3 * seed + i, shape), x, x0, steps))
    return cases


COMPLETENESS_STEPS = (2, 3, 4, 64)   # the error at m = 64 must be small, and well under the worst of m = 2..4
COMPLETENESS_TOLERANCE = 1e-3        # |sum IG - (F(x) - F(x'))| at m = 64; F is in (0, 1)


def completeness_errors(integrated_gradients, F, x, baseline) -> dict:
    """{m: |sum_i IG_i - (F(x) - F(x'))|} for the steps m of ``COMPLETENESS_STEPS``."""
    difference = (F(x[None]) - F(baseline[None])).item()
    return {m: abs(integrated_gradients(*fresh((F, x, baseline, m))).sum().item() - difference)
            for m in COMPLETENESS_STEPS}


def check_integrated_gradients(integrated_gradients, seed=0) -> bool:
    """integrated_gradients(F, x, baseline, steps): the midpoint sum, then completeness (Sundararajan et al. 2017)."""
    name = "integrated_gradients"
    cases = _ig_cases(seed)
    if not check(integrated_gradients, path_integral, cases, name=name):
        return False
    F, x, baseline, _ = cases[1]
    try:
        errors = completeness_errors(integrated_gradients, F, x, baseline)
    except Exception as e:
        print(error_line(name, f"F, x {list(x.shape)}, baseline {list(x.shape)}, steps {COMPLETENESS_STEPS}", e))
        return False
    table = ", ".join(f"{errors[m]:.1e} (m = {m})" for m in COMPLETENESS_STEPS)
    large = COMPLETENESS_STEPS[-1]
    small = errors[large] <= COMPLETENESS_TOLERANCE
    falls = errors[large] < max(errors[m] for m in COMPLETENESS_STEPS[:-1]) / 4   # the midpoint rule: ~1/m^2
    if not (small and falls):
        print(tr("FAIL  {name}: the completeness error |sum IG - (F(x) - F(x'))| does not fall to 0 as the steps "
                 "grow: {table}", name=name, table=table))
        return False
    print(tr("PASS  {name} is complete: |sum IG - (F(x) - F(x'))| = {table}", name=name, table=table))
    return True
