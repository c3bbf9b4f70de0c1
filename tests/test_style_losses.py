"""course_lib.style_losses: the properties of the slide's formulas not pinned by literal values elsewhere.

Literal values and autograd agreement of every formula: ``test_exercise_references.py`` (the exercises'
references are these functions).
"""
import torch

from course_lib import style_losses as sl


def test_gram_matrix_symmetric_positive_semidefinite(seeded):
    F = torch.randn(7, 50, dtype=torch.float64)
    G = sl.gram_matrix(F)
    assert torch.allclose(G, G.T)
    assert torch.linalg.eigvalsh(G).min() > -1e-9


def test_gram_matrix_batched_matches_per_image(seeded):
    F = torch.randn(3, 4, 5, 6)  # [B, N_l, H, W]
    G = sl.gram_matrix(F)
    assert G.shape == (3, 4, 4)
    for b in range(3):
        assert torch.allclose(G[b], sl.gram_matrix(F[b].reshape(4, 30)))


def test_style_layer_loss_batched_sums_over_the_batch(seeded):
    F = torch.randn(2, 4, 3, 5, dtype=torch.float64)
    A = torch.randn(4, 4, dtype=torch.float64)
    per_image = sum(sl.style_layer_loss(F[b].reshape(4, 15), A) for b in range(2))
    assert torch.allclose(sl.style_layer_loss(F, A), per_image)


def test_content_loss_by_hand():
    F, C = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 4.0]])  # 1/2 (1 + 4) = 2.5
    assert sl.content_loss({"a": F, "b": F}, {"a": C, "b": F}, {"a": 2.0, "b": 7.0}).item() == 5.0


def test_style_loss_weighted_sum(seeded):
    F1, F2 = torch.randn(1, 3, 4, 4), torch.randn(1, 5, 2, 2)
    A1, A2 = torch.randn(3, 3), torch.randn(5, 5)
    total = sl.style_loss({"x": F1, "y": F2}, {"x": A1, "y": A2}, {"x": 0.5, "y": 2.0})
    assert torch.allclose(total, 0.5 * sl.style_layer_loss(F1, A1) + 2.0 * sl.style_layer_loss(F2, A2))
