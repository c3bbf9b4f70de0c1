"""The exercise checkers compare a student's answer with a reference from course_lib, and the solution
notebooks copy those references' bodies: "the solution passes" therefore only guards against drift.
Here every reference is checked against something that did not make it: autograd, a literal value
computed by hand, or a second formulation of the same formula (deliberately written differently)."""
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from course_lib import dream, exercises, hooks, hubel_wiesel, style, transposed

ROOT = Path(__file__).resolve().parents[1]

RULES = hooks.RELU_BACKWARD_RULES


def randn(seed, *shape):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ---- Hubel & Wiesel ------------------------------------------------------------------------------

def test_tuning_curve_reference_is_the_best_phase_one_grating_at_a_time():
    neuron = exercises._Neuron(seed=3, c=1)
    angles_deg, size, frequency, n_phases = hubel_wiesel.angles(6), 21, 3.0, 4
    by_hand = torch.tensor([max(neuron(hubel_wiesel.oriented_grating(size, float(a), frequency, 2 * math.pi * k / n_phases)[None]).item()
                                for k in range(n_phases)) for a in angles_deg], dtype=torch.float64)
    torch.testing.assert_close(exercises.reference_tuning_curve(neuron, angles_deg, size, frequency, n_phases), by_hand)


def test_tuning_curve_reference_peaks_at_the_orientation_a_template_cell_likes():
    template = hubel_wiesel.oriented_grating(33, 60.0, 4.0).double() - 0.5          # a cell that is a 60° grating
    neuron = lambda stimuli: (stimuli.double() * template).sum(dim=(1, 2, 3))      # noqa: E731
    tuning = exercises.reference_tuning_curve(neuron, hubel_wiesel.angles(12), 33, 4.0, n_phases=8)
    assert hubel_wiesel.angles(12)[tuning.argmax()].item() == 60.0


def test_osi_reference_literal_values():
    osi = hubel_wiesel.orientation_selectivity_index
    assert osi(torch.tensor([4.0, 0.0, 1.0, 0.0])).item() == pytest.approx((4 - 1) / (4 + 1))
    assert osi(torch.tensor([0.0, 1.0, 2.0, 0.0, 0.0, 0.5])).item() == pytest.approx((2 - 0.5) / (2 + 0.5))  # 60° vs 150°
    assert osi(torch.tensor([4.0, 1.0, 0.0])).item() == pytest.approx(3 / 5)     # odd n: 60°, just under 90°


# ---- ReLU backward rules -------------------------------------------------------------------------

def test_relu_rules_literal_values_and_autograd():
    g = torch.tensor([-2.0, -1.0, 1.0, 2.0])          # the signal coming down
    passes = torch.tensor([1.0, 0.0, 1.0, 0.0])       # where the forward ReLU had x > 0
    assert (RULES["gradient"](g, passes) + 0.0).tolist() == [-2.0, 0.0, 1.0, 0.0]
    assert (RULES["deconvnet"](g, passes) + 0.0).tolist() == [0.0, 0.0, 1.0, 2.0]
    assert (RULES["guided"](g, passes) + 0.0).tolist() == [0.0, 0.0, 1.0, 0.0]
    x = torch.tensor([0.5, -0.3, 2.0, -1.0], requires_grad=True)   # the forward input that gives ``passes``
    (autograd,) = torch.autograd.grad(torch.relu(x), x, g)
    assert torch.equal(RULES["gradient"](g, (x > 0).float()), autograd)


# ---- transposed convolution ----------------------------------------------------------------------

@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (3, 2)])
def test_conv_matrix_columns_are_conv2d_of_unit_images(stride, padding):
    weight, size = randn(0, 2, 3, 3, 3), (5, 6)
    C = transposed.conv_matrix(weight, size, stride, padding)
    for j in range(3 * 5 * 6):                        # column j = the convolution of the j-th unit image
        e = torch.zeros(3 * 5 * 6, dtype=torch.float64)
        e[j] = 1
        column = F.conv2d(e.view(1, 3, *size), weight, stride=stride, padding=padding).flatten()
        assert torch.allclose(C[:, j], column)


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (2, 0)])
def test_transposed_conv_reference_is_the_adjoint_of_conv2d(stride, padding):
    weight, size = randn(1, 4, 3, 3, 3), (7, 6)
    x = torch.zeros(1, 3, *size, dtype=torch.float64, requires_grad=True)
    out = F.conv2d(x, weight, stride=stride, padding=padding)
    y = randn(2, *out.shape[1:])
    (vjp,) = torch.autograd.grad(out, x, y[None])     # Cᵀ y = the gradient of <conv(x), y>
    assert torch.allclose(transposed.transposed_conv(y, weight, size, stride, padding), vjp[0])


def test_transposed_conv_literal_value():
    y, w = torch.tensor([[[2.0]]]), torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])   # one output pixel, 2x2 kernel
    assert transposed.transposed_conv(y, w, (2, 2)).tolist() == [[[2.0, 4.0], [6.0, 8.0]]]


# ---- class objective -----------------------------------------------------------------------------

def test_class_objective_literal_value_and_autograd():
    scores = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)   # [N = 2, 3]
    image = torch.full((2, 3, 2, 2), 0.5, requires_grad=True)                        # ||I||^2 = 24 * 0.25 = 6
    value = dream.class_objective(scores, 1, image, l2=0.1)
    assert value.item() == pytest.approx(2 + 5 - 0.1 * 6)
    d_scores, d_image = torch.autograd.grad(value, (scores, image))
    assert d_scores.tolist() == [[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]                   # dS_c: one-hot on class c
    assert torch.allclose(d_image, torch.full_like(image, -2 * 0.1 * 0.5))          # d(-lambda||I||^2) = -2 lambda I


# ---- artistic style ------------------------------------------------------------------------------

def test_content_loss_literal_value_and_derivative():
    assert style.content_layer_loss(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 4.0]])).item() == 2.5   # (1 + 4) / 2
    F_, C = randn(3, 4, 9).requires_grad_(True), randn(4, 4, 9)
    (grad,) = torch.autograd.grad(style.content_layer_loss(F_, C), F_)
    assert torch.allclose(grad, F_.detach() - C)      # the paper's dL/dF = F - C (where F > 0 through the ReLU)


def test_gram_matrix_is_a_sum_of_outer_products():
    F_ = randn(5, 4, 11)                               # [N_l, M_l]
    by_positions = sum(torch.outer(F_[:, k], F_[:, k]) for k in range(11))
    assert torch.allclose(style.gram_matrix(F_), by_positions)
    assert style.gram_matrix(torch.tensor([[1.0, 2.0], [0.0, -1.0]])).tolist() == [[5.0, -2.0], [-2.0, 1.0]]


def test_style_layer_loss_literal_value_and_trace_formulation():
    assert style.style_layer_loss(torch.eye(2), torch.zeros(2, 2)).item() == pytest.approx(2 / (4 * 2**2 * 2**2))
    F_, P = randn(6, 4, 10), randn(7, 4, 10)
    A = P @ P.T
    D = F_ @ F_.T - A
    assert style.style_layer_loss(F_, A).item() == pytest.approx(torch.trace(D @ D.T).item() / (4 * 4**2 * 10**2))


def test_style_layer_grad_is_autograd_through_the_relu():
    Z = randn(8, 5, 12).requires_grad_(True)          # pre-activations, F = ReLU(Z)
    A = style.gram_matrix(randn(9, 5, 12).relu())
    (autograd,) = torch.autograd.grad(style.style_layer_loss(torch.relu(Z), A), Z)
    assert torch.allclose(style.style_layer_grad(torch.relu(Z).detach(), A), autograd, rtol=1e-9, atol=1e-15)


def test_tv_loss_literal_value_and_difference_kernels():
    x = torch.tensor([[[[0.0, 1.0], [3.0, 5.0]]]])     # [1, 1, 2, 2]
    assert style.tv_loss(x).item() == (3**2 + 4**2) + (1**2 + 2**2)   # vertical + horizontal differences
    x = randn(10, 2, 3, 6, 7)
    dy = F.conv2d(x.flatten(0, 1)[:, None], torch.tensor([[[[-1.0], [1.0]]]], dtype=torch.float64))
    dx = F.conv2d(x.flatten(0, 1)[:, None], torch.tensor([[[[-1.0, 1.0]]]], dtype=torch.float64))
    assert style.tv_loss(x).item() == pytest.approx((dy**2).sum().item() + (dx**2).sum().item())


@pytest.mark.parametrize("n", [3, 5, 7, 12])
def test_solution_notebook_osi_agrees_with_the_library_for_odd_angle_counts(n):
    """The checker's cases have even n only; the solution, the library and notebook 01 take n // 2 steps."""
    import nbformat

    solution = nbformat.read(ROOT / "notebooks" / "exercises" / "solutions" / "01_hubel_wiesel.ipynb", as_version=4)
    (source,) = [c.source for c in solution.cells if "def orientation_selectivity_index" in c.source]
    namespace = {"torch": torch}
    exec(source, namespace)
    tuning = torch.rand(5, n, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    assert torch.allclose(namespace["orientation_selectivity_index"](tuning), hubel_wiesel.orientation_selectivity_index(tuning))


# ---- Grad-CAM and integrated gradients -----------------------------------------------------------

def test_grad_cam_weights_and_map_literal_values():
    from course_lib.grad_cam import grad_cam_map, grad_cam_weights

    dA = torch.tensor([[[1.0, 3.0], [0.0, 0.0]], [[-2.0, -2.0], [-2.0, 2.0]]])     # [K = 2, 2, 2]
    assert grad_cam_weights(dA).tolist() == [1.0, -1.0]                              # (1 + 3) / 4, (-4) / 4
    A = torch.tensor([[[1.0, 0.0], [2.0, 0.0]], [[0.0, 1.0], [1.0, 0.0]]])
    assert grad_cam_map(A, grad_cam_weights(dA)).tolist() == [[1.0, 0.0], [1.0, 0.0]]   # ReLU(A^1 - A^2)


def test_grad_cam_weights_of_a_cam_head_are_its_class_weights_over_Z():
    """On global average pooling + linear (the CAM network Grad-CAM generalises), dS_c/dA^k_ij = w_ck / Z."""
    from course_lib.grad_cam import grad_cam_weights

    A = randn(11, 5, 4, 6).requires_grad_(True)                                     # [K, h, w]
    w = randn(12, 3, 5)                                                              # [classes, K]
    S = w @ A.mean(dim=(1, 2))                                                       # [classes]
    (dA,) = torch.autograd.grad(S[2], A)
    assert torch.allclose(grad_cam_weights(dA), w[2] / 24)


def test_path_integral_is_exact_for_a_quadratic_and_complete_for_a_smooth_function():
    """F(x) = x^T Q x: the integrand is linear in a, so the midpoint rule is exact: IG = x * (Q + Q^T) x / 2."""
    from course_lib.integrated_gradients import path_integral

    Q, x = randn(13, 5, 5), randn(14, 5)
    F = lambda X: ((X @ Q) * X).sum(dim=1)                                           # noqa: E731  [n, 5] -> [n]
    assert torch.allclose(path_integral(F, x, torch.zeros(5, dtype=torch.float64), steps=3), x * ((Q + Q.T) @ x) / 2)
    G = lambda X: torch.tanh(X.flatten(1)).sum(dim=1)                               # noqa: E731
    x, x0 = randn(15, 2, 3), randn(16, 2, 3)
    errors = [abs(path_integral(G, x, x0, m, batch=4).sum().item() - (G(x[None]) - G(x0[None])).item()) for m in (4, 64)]
    assert errors[1] < 1e-4 and errors[1] < errors[0] / 100                          # midpoint: error ~ 1/m^2
