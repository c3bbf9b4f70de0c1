"""Fooling images: FGSM against a step written out with autograd, the L-infinity ball and the 8-bit grid,
a targeted PGD that works, readable errors, the model left as it was."""
import pytest
import torch
import torch.nn.functional as F

from course_lib import UnknownNameError
from course_lib.fooling import fool, smallest_fooling, top_class
from course_lib.hooks import hook_count
from course_lib.samples import image_tensor


@pytest.fixture(scope="module")
def cat():
    return image_tensor("chelsea", 64)                              # [1, 3, 43, 64], 8-bit values


def test_fgsm_is_one_signed_gradient_step(model, cat):
    eps = 4 / 255
    X = cat.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model.net(model.to_input(X)), torch.tensor([1])), X)
    expected = ((cat - eps * g.sign()).clamp(0, 1) * 255).round() / 255
    assert torch.allclose(fool(model, cat, "goldfish", eps, steps=1), expected, atol=1e-6)


def test_pgd_is_projected_signed_steps_by_hand(model, cat):
    eps, steps = 3 / 255, 3
    a, x = 2.5 * eps / steps, cat.clone()
    for _ in range(steps):
        X = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model.net(model.to_input(X)), torch.tensor([1])), X)
        x = torch.min(torch.max(x - a * g.sign(), cat - eps), cat + eps).clamp(0, 1)    # back into the ball, [0, 1]
    expected = torch.min(torch.max((x * 255).round() / 255, cat - eps), cat + eps)
    assert torch.allclose(fool(model, cat, "goldfish", eps, steps=steps), expected, atol=1e-6)


def test_pgd_stays_in_the_ball_on_the_8_bit_grid_and_fools(model, cat):
    x = model.to_input(cat)
    with torch.no_grad():
        before = model.net(x)
    result = smallest_fooling(model, cat, "goldfish", steps=4)                  # a = 2.5 eps / 4: off the 8-bit grid
    x_adv = result["image"]
    assert result["epsilon"] is not None and result["epsilon"] <= 8 / 255     # measured: 2/255 at 64 px
    assert (x_adv - cat).abs().max() <= result["epsilon"] + 1e-6 and 0 <= x_adv.min() and x_adv.max() <= 1
    assert torch.allclose(x_adv * 255, (x_adv * 255).round(), atol=1e-4)      # saveable as 8 bits
    assert top_class(model, x_adv)[0] == 1 and top_class(model, cat)[0] != 1
    assert hook_count(model.net) == 0 and all(p.grad is None for p in model.net.parameters())
    with torch.no_grad():
        assert torch.equal(model.net(x), before)


def test_bad_input_gives_readable_errors(model, cat):
    for epsilon in (0, -1 / 255, 2, "big"):
        with pytest.raises(ValueError, match="epsilon is the largest change"):
            fool(model, cat, 1, epsilon)
    with pytest.raises(ValueError, match="steps must be"):
        fool(model, cat, 1, 2 / 255, steps=0)
    with pytest.raises(UnknownNameError, match="out of range"):
        fool(model, cat, 1000)
    with pytest.raises(TypeError, match="needs a course model"):
        fool(model.net, cat, 1)
