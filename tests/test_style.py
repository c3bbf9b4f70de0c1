"""Tests for course_lib.style (slides "Artistic Style #1-#7")."""
import pytest
import torch

from course_lib import style


def test_gram_matrix_is_F_Ft_by_hand():
    F = torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0]])  # [N_l=2, M_l=3]
    assert torch.equal(style.gram_matrix(F), torch.tensor([[5.0, 2.0], [2.0, 10.0]]))


def test_gram_matrix_symmetric_positive_semidefinite(seeded):
    F = torch.randn(7, 50, dtype=torch.float64)
    G = style.gram_matrix(F)
    assert torch.allclose(G, G.T)
    assert torch.linalg.eigvalsh(G).min() > -1e-9


def test_gram_matrix_batched_matches_per_image(seeded):
    F = torch.randn(3, 4, 5, 6)  # [B, N_l, H, W]
    G = style.gram_matrix(F)
    assert G.shape == (3, 4, 4)
    for b in range(3):
        assert torch.allclose(G[b], style.gram_matrix(F[b].reshape(4, 30)))


def test_style_layer_loss_by_hand():
    F = torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0]])  # G = [[5, 2], [2, 10]]
    A = torch.tensor([[4.0, 2.0], [2.0, 8.0]])            # (G-A)^2 sums to 1 + 4 = 5
    expected = 5.0 / (4 * 2**2 * 3**2)
    assert style.style_layer_loss(F, A).item() == pytest.approx(expected)


def test_style_layer_loss_batched_sums_over_the_batch(seeded):
    F = torch.randn(2, 4, 3, 5, dtype=torch.float64)
    A = torch.randn(4, 4, dtype=torch.float64)
    per_image = sum(style.style_layer_loss(F[b].reshape(4, 15), A) for b in range(2))
    assert torch.allclose(style.style_layer_loss(F, A), per_image)


def test_eq2_gradient_equals_autograd(seeded):
    """Eq. (2) of slide Artistic Style #5 against autograd, float64, random positive F."""
    F = torch.rand(6, 40, dtype=torch.float64) + 0.01
    A = style.gram_matrix(torch.rand(6, 40, dtype=torch.float64))
    F.requires_grad_(True)
    (autograd,) = torch.autograd.grad(style.style_layer_loss(F, A), F)
    analytic = style.style_layer_grad(F.detach(), A)
    assert torch.allclose(analytic, autograd, rtol=1e-9, atol=0)


def test_eq2_gradient_is_zero_where_F_is_negative():
    F = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)
    A = torch.zeros(2, 2, dtype=torch.float64)
    assert style.style_layer_grad(F, A)[0, 1] == 0


def test_content_loss_by_hand():
    F, C = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 4.0]])  # 1/2 (1 + 4) = 2.5
    assert style.content_layer_loss(F, C).item() == 2.5
    assert style.content_loss({"a": F, "b": F}, {"a": C, "b": F}, {"a": 2.0, "b": 7.0}).item() == 5.0


def test_style_loss_weighted_sum(seeded):
    F1, F2 = torch.randn(1, 3, 4, 4), torch.randn(1, 5, 2, 2)
    A1, A2 = torch.randn(3, 3), torch.randn(5, 5)
    total = style.style_loss({"x": F1, "y": F2}, {"x": A1, "y": A2}, {"x": 0.5, "y": 2.0})
    assert torch.allclose(total, 0.5 * style.style_layer_loss(F1, A1) + 2.0 * style.style_layer_loss(F2, A2))


def test_tv_loss_by_hand():
    x = torch.zeros(1, 3, 2, 2)
    x[0, :, 0, 0] = 1.0  # one bright corner: two neighbour differences of 1 per channel
    assert style.tv_loss(x).item() == 6.0
    assert style.tv_loss(torch.ones(2, 3, 5, 5)).item() == 0.0
