"""Offline checkers for the student exercises in ``notebooks/exercises/``: the cases of every task.

Every ``check_*`` takes the student's function and hands it, the course's reference implementation
and several seeded random inputs to ``checker.check`` (the engine: calls, compares, prints one line
PASS / FAIL / ERROR / not implemented yet). ``seed`` changes the random inputs (``course_lib.grade``
uses seeds the students never saw); ``recheck`` gates the demo cells. Nothing is stored: the answers
come from the reference modules (``transposed``, ``hubel_wiesel``, ``hooks``, ``dream``, ``style``), so
the checkers cannot drift from the code the lecture notebooks use. The attribution tasks (Grad-CAM,
integrated gradients) have their cases in ``exercises_attribution``; their checkers are re-exported here.
"""
import contextlib
import io
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import dream, hooks, hubel_wiesel, style, transposed
from .checker import check, compare, error_line, fresh
from .exercises_attribution import check_grad_cam_map, check_grad_cam_weights, check_integrated_gradients  # noqa: F401
from .i18n import tr


def recheck(*functions) -> bool:
    """True when every function still passes its ``check_<name>`` (run again, quietly).

    The demo cells are gated on this rather than on the ``ok_*`` flag of an earlier check: a
    function redefined wrongly after its PASS must not feed the demo.
    """
    failing = []
    for fn in functions:
        checker = globals().get(f"check_{getattr(fn, '__name__', '')}")
        if checker is None:
            raise ValueError(tr("recheck: no checker for {fn!r}; pass the exercise's functions by their names",
                                fn=fn))
        with contextlib.redirect_stdout(io.StringIO()):
            passed = checker(fn)
        if not passed:
            failing.append(fn.__name__)
    if failing:
        print(tr("This demo needs {names} to pass the check: run the check cell above to see why.",
                 names=", ".join(failing)))
    return not failing


def _randn(generator, *shape):
    return torch.randn(*shape, generator=generator, dtype=torch.float64)


# --- the Hubel & Wiesel experiment (slide "Модель Hubel & Weisel") ---

class _Neuron:
    """A test cell: channel ``c`` at the centre of a random conv layer, R = max(F, 0); [N, 3, S, S] -> [N]."""

    def __init__(self, seed, c=0):
        self.weight = torch.randn(3, 3, 7, 7, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        self.c = c

    def __call__(self, stimuli):
        if not isinstance(stimuli, torch.Tensor) or stimuli.dim() != 4 or stimuli.shape[1] != 3:
            got = tr("shape {shape}", shape=list(stimuli.shape)) if isinstance(stimuli, torch.Tensor) \
                else type(stimuli).__name__
            raise ValueError(tr("neuron takes a batch of stimuli [N, 3, S, S] and returns their responses [N]; it got "
                                "{got}. Put the gratings in one batch with torch.stack([...]), or add the batch "
                                "dimension to one image with x[None].", got=got))
        F_l = F.conv2d(stimuli.double(), self.weight)               # [N, 3, H_l, W_l]
        return F_l[:, self.c, F_l.shape[2] // 2, F_l.shape[3] // 2].clamp_min(0)

    def __repr__(self):
        return "neuron"


def reference_tuning_curve(neuron, angles_deg, size, frequency, n_phases=4):
    """The tuning-curve exercise's answer: R(θ) = max_k neuron(grating(θ, φ_k)), φ_k = 2πk/n_phases; [n_angles]."""
    phases = [2 * math.pi * k / n_phases for k in range(n_phases)]
    stimuli = torch.stack([hubel_wiesel.oriented_grating(size, float(a), frequency, phi)
                           for a in angles_deg for phi in phases])      # [n_angles * n_phases, 3, S, S]
    return neuron(stimuli).view(len(angles_deg), n_phases).amax(dim=1)


def check_tuning_curve(tuning_curve, seed=0) -> bool:
    """tuning_curve(neuron, angles_deg, size, frequency, n_phases): a cell's best response per orientation (slide: Модель Hubel & Weisel)."""
    cases = [(_Neuron(3 * seed + s, c), hubel_wiesel.angles(n), size, f, n_phases)
             for s, c, n, size, f, n_phases in [(0, 0, 8, 15, 3.0, 4), (1, 2, 12, 21, 5.0, 2), (2, 1, 6, 17, 2.5, 8)]]
    return check(tuning_curve, reference_tuning_curve, cases, name="tuning_curve")


def check_orientation_selectivity_index(orientation_selectivity_index, seed=0) -> bool:
    """OSI = (R_pref - R_orth) / (R_pref + R_orth + eps), R_orth 90° from the preferred angle (slide: Модель Hubel & Weisel)."""
    generator = torch.Generator().manual_seed(seed)
    cases = [(torch.rand(*shape, generator=generator, dtype=torch.float64),) for shape in [(8,), (5, 12), (2, 3, 36)]]
    return check(orientation_selectivity_index, hubel_wiesel.orientation_selectivity_index, cases)


# --- convolution as a matrix (slide "Deconvolutional networks #3") ---

def _conv_cases(seed=0):
    """(weight [C_out, C_in, k, k], (H, W), stride, padding); the first is the slide's 3x3 kernel on a 4x4 input."""
    generator = torch.Generator().manual_seed(seed)
    geometry = [((1, 1, 3, 3), (4, 4), 1, 0), ((2, 3, 3, 3), (5, 6), 2, 1),
                ((3, 2, 2, 2), (5, 5), 2, 0), ((2, 1, 3, 2), (4, 7), 1, 1)]
    return [(_randn(generator, *w), size, s, p) for w, size, s, p in geometry]


def check_conv_matrix(conv_matrix, seed=0) -> bool:
    """conv_matrix(weight, input_size, stride, padding) -> C, conv2d(x).flatten() == C @ x.flatten() (slide: Deconvolutional networks #3)."""
    return check(conv_matrix, transposed.conv_matrix, _conv_cases(2 * seed))


def check_transposed_conv(transposed_conv, seed=0) -> bool:
    """transposed_conv(y, weight, input_size, stride, padding) -> Cᵀ y as [C_in, H, W] (slide formula (1))."""
    generator = torch.Generator().manual_seed(2 * seed + 1)
    cases = []
    for weight, size, s, p in _conv_cases(2 * seed + 1):
        k_h, k_w = weight.shape[-2:]
        y_size = [transposed.output_size(n, k, s, p) for n, k in zip(size, (k_h, k_w))]
        cases.append((_randn(generator, weight.shape[0], *y_size), weight, size, s, p))   # y [C_out, H_out, W_out]
    if not check(transposed_conv, transposed.transposed_conv, cases):
        return False
    # Cᵀ y is also what PyTorch's transposed convolution computes
    for y, weight, size, s, p in cases:
        pad = transposed.output_padding(size, weight.shape[-2:], s, p)
        expected = F.conv_transpose2d(y[None], weight, stride=s, padding=p, output_padding=pad)[0]
        problem = compare(transposed_conv(*fresh((y, weight, size, s, p))), expected, tr("the result"), 1e-8, 1e-6)
        if problem:
            print(tr("FAIL  transposed_conv differs from F.conv_transpose2d: {problem}", problem=problem))
            return False
    print(tr("PASS  transposed_conv agrees with F.conv_transpose2d (stride and padding included)"))
    return True


# --- the class-model objective (slide "Deep Dream #1") ---

def check_class_objective(class_objective, seed=0) -> bool:
    """class_objective(scores, c, image, l2) = S_c(I) - lambda ||I||_2^2, summed over the batch (slide: Deep Dream #1)."""
    generator = torch.Generator().manual_seed(seed)
    cases = []
    for N, classes, size, c, l2 in [(1, 10, 4, 3, 0.1), (2, 1000, 8, 281, 0.05), (1, 7, 5, 0, 2.0)]:
        cases.append((_randn(generator, N, classes), c, _randn(generator, N, 3, size, size), l2))
    return check(class_objective, dream.class_objective, cases, gradient=True)


# --- ReLU backward rules (slides "Deconvolutional networks #2", "Saliency Maps #3-4") ---

def _tiny_relu_net():
    """Conv - ReLU - conv - ReLU(inplace) - pool - linear, random weights, seeded (the global RNG is left alone)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 5, 3), nn.ReLU(inplace=True),
                             nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(20, 3)).eval()


def _input_gradient(net, x, rule):
    """d S_1 / d x with every ReLU of ``net`` back-propagating by ``rule``."""
    x = x.clone().requires_grad_(True)
    with hooks.relu_backward_rule(net, rule):
        net(x)[0, 1].backward()
    return x.grad


def _check_relu_rule(student, rule_name, seed=0):
    name = f"{rule_name}_rule"
    reference = hooks.RELU_BACKWARD_RULES[rule_name]
    generator = torch.Generator().manual_seed(seed)
    cases = []
    for shape in [(6,), (2, 3, 4), (1, 4, 5, 5)]:
        g = _randn(generator, *shape)                                  # gradient w.r.t. the ReLU output
        passes = (_randn(generator, *shape) > 0).to(torch.float64)     # 1 where the forward ReLU let x through
        cases.append((g, passes))
    if not check(student, reference, cases, name):
        return False
    # the same rule inside a real network, through course_lib.hooks
    net = _tiny_relu_net()
    x = torch.randn(1, 3, 8, 8, generator=generator)
    try:
        got = _input_gradient(net, x, student)
    except Exception as e:
        print(error_line(tr("{name} inside a network", name=name), f"x {list(x.shape)}", e))
        return False
    problem = compare(got, _input_gradient(net, x, reference), tr("the input gradient of a small network"), 1e-6, 1e-5)
    if problem:
        print(tr("FAIL  {name} inside a network: {problem}", name=name, problem=problem))
        return False
    print(tr("PASS  {name} gives the reference input gradient of a small conv net", name=name))
    return True


def check_deconvnet_rule(deconvnet_rule, seed=0) -> bool:
    """deconvnet_rule(g, passes): the ReLU applied to the backward signal (slide: Deconvolutional networks #2)."""
    return _check_relu_rule(deconvnet_rule, "deconvnet", seed)


def check_guided_rule(guided_rule, seed=0) -> bool:
    """guided_rule(g, passes): guided backpropagation (slide: Saliency Maps #3-4)."""
    return _check_relu_rule(guided_rule, "guided", seed)


# --- Artistic style (slides "Artistic Style #2, #5") and the TV prior ---

def _feature_cases(shapes, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [(_randn(generator, N, M),) for N, M in shapes]


def _style_cases(seed=0):
    """(F [N_l, M_l], A [N_l, N_l]); A is the Gram matrix of other features, so symmetric like the real one."""
    generator = torch.Generator().manual_seed(seed)
    cases = []
    for N, M in [(3, 7), (5, 4), (4, 4), (8, 30)]:
        P = _randn(generator, N, M).relu()
        cases.append((_randn(generator, N, M), P @ P.T))
    return cases


def check_content_layer_loss(content_layer_loss, seed=0) -> bool:
    """content_layer_loss(F, C) = sum_ij 1/2 (F_ij - C_ij)^2 (slide: Artistic Style #2)."""
    generator = torch.Generator().manual_seed(seed)
    cases = [(_randn(generator, N, M), _randn(generator, N, M)) for N, M in [(3, 7), (5, 4), (16, 49)]]
    return check(content_layer_loss, style.content_layer_loss, cases, gradient=True)


def check_gram_matrix(gram_matrix, seed=0) -> bool:
    """gram_matrix(F) = F F^T for F [N_l, M_l] (slide: Artistic Style #5)."""
    return check(gram_matrix, style.gram_matrix, _feature_cases([(3, 7), (5, 4), (4, 4), (8, 30)], seed))


def check_style_layer_loss(style_layer_loss, seed=0) -> bool:
    """style_layer_loss(F, A) = 1/(4 N_l^2 M_l^2) sum_ij (G_ij - A_ij)^2 (slide: Artistic Style #5)."""
    return check(style_layer_loss, style.style_layer_loss, _style_cases(2 * seed), gradient=True)


def check_style_layer_grad(style_layer_grad, seed=0) -> bool:
    """style_layer_grad(F, A): eq. (2), the analytic dE_l/dF^l (slide: Artistic Style #5)."""
    return check(style_layer_grad, style.style_layer_grad, _style_cases(2 * seed + 1))


def check_tv_loss(tv_loss, seed=0) -> bool:
    """tv_loss(x): sum of squared neighbour differences of x [B, 3, H, W] (not on the slides; Mahendran & Vedaldi 2015)."""
    generator = torch.Generator().manual_seed(seed)
    cases = [(torch.rand(*shape, generator=generator, dtype=torch.float64),)
             for shape in [(1, 3, 5, 5), (2, 3, 4, 7), (1, 3, 16, 9)]]
    return check(tv_loss, style.tv_loss, cases, gradient=True)
