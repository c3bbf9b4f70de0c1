"""course_lib.guided_dream: DeepDream toward a guide image (Mordvintsev et al. 2015, "Inceptionism")."""
import pytest
import torch
import torch.nn.functional as F

from course_lib import UnknownNameError
from course_lib.dream import DreamConfig, deep_dream
from course_lib.guided_dream import best_match_similarity, guide_features, guided_dream, guided_objective
from course_lib.hooks import hook_count
from course_lib.samples import sample_image

CONFIG = DreamConfig(octaves=2, steps=4, jitter=4, size=96)
LAYER = "block6"


def test_objective_is_the_sum_of_best_matching_dot_products(model):
    """O(x) = 1/M_x sum_i x_i . y_{j*(i)}, j*(i) = argmax_j x_i . y_j, written out with loops."""
    torch.manual_seed(0)
    x = torch.randn(1, 3, 48, 40)
    Y = guide_features(model, torch.rand(1, 3, 32, 32), "block3")                        # [M_y, N_l]
    X = model.features(x, "block3")["block3"][0].flatten(1).T                             # [M_x, N_l]
    by_hand = sum(max(float(X[i] @ Y[j]) for j in range(len(Y))) for i in range(len(X))) / len(X)
    value = guided_objective(model, "block3", Y)(x)
    assert value.item() == pytest.approx(by_hand, rel=1e-4)
    # its gradient w.r.t. each x_i is y_{j*(i)} / M_x: the guide motif that fits position i best
    Xg = X.detach().requires_grad_(True)
    dots = Xg @ Y.T
    (g,) = torch.autograd.grad(dots.gather(1, dots.argmax(1, keepdim=True)).mean(), Xg)
    assert torch.allclose(g, Y[(X @ Y.T).argmax(1)] / len(X))


def test_guided_dream_moves_the_features_toward_the_guide(model):
    """The swirls guide: best-match cosine similarity 0.29 after the plain dream, 0.52 after the guided one."""
    photo, guide = sample_image("chelsea", 96), sample_image("swirls")
    plain, _ = deep_dream(model, photo, LAYER, config=CONFIG, quiet=True)
    guided, history = guided_dream(model, photo, guide, LAYER, config=CONFIG, guide_size=96, quiet=True)
    similarity = lambda image: best_match_similarity(model, image, guide, LAYER, size=96, guide_size=96)  # noqa: E731
    assert similarity(guided) > similarity(plain) + 0.12
    assert history[-1] > history[0]                     # the objective climbed
    assert guided.shape[-2:] == plain.shape[-2:] and 0 <= guided.min() and guided.max() <= 1
    assert hook_count(model.net) == 0


def test_readable_errors_and_no_hook_left_behind(model):
    photo = sample_image("chelsea", 64)
    with pytest.raises(UnknownNameError, match="unknown layer"):
        guided_dream(model, photo, sample_image("swirls"), "block99", config=CONFIG, quiet=True)
    with pytest.raises(ValueError, match="needs a layer name"):
        guided_dream(model, photo, sample_image("swirls"), "random_class", config=CONFIG, quiet=True)
    with pytest.raises(ValueError, match="positions, channels"):
        guided_objective(model, LAYER, torch.zeros(3))
    # guide features of another layer: the error comes from inside the dream's forward pass
    wrong = guide_features(model, sample_image("swirls", 64), "block1")
    assert wrong.shape[1] != guide_features(model, sample_image("swirls", 64), LAYER).shape[1]
    with pytest.raises(ValueError, match="channels but layer"):
        deep_dream(model, photo, guided_objective(model, LAYER, wrong), config=CONFIG, quiet=True)
    assert hook_count(model.net) == 0
