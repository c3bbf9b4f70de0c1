"""course_lib.class_model and course_lib.dream: class-model visualisation and DeepDream (slides "Deep Dream #1-#4")."""
import warnings
from dataclasses import replace

import pytest
import torch

from course_lib import UnknownNameError, class_model, dream
from course_lib.dream import ClassVisConfig, DreamConfig, class_objective, class_visualization, deep_dream
from course_lib.hooks import hook_count
from course_lib.progress import DivergenceWarning, InterruptedWarning

SMALL = ClassVisConfig(steps=6, size=48, jitter=0, blur_every=0)
QUICK_DREAM = DreamConfig(octaves=2, steps=2, jitter=4, size=64)


@pytest.fixture
def photo():
    return torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(1))


# ---- Deep Dream #1-#2: S_c(I) - lambda ||I||^2 from zeros --------------------------------

def test_class_objective_is_the_slide_formula():
    scores = torch.tensor([[1.0, 2.0, 3.0]])
    image = torch.ones(1, 3, 2, 2, requires_grad=True)
    value = class_objective(scores, 2, image, l2=0.5)
    assert value.shape == () and value.item() == pytest.approx(3 - 0.5 * 12)
    (g,) = torch.autograd.grad(value, image)
    assert torch.allclose(g, -2 * 0.5 * image.detach())  # d/dI of -lambda ||I||^2


def test_class_visualization_starts_from_the_zero_image(model):
    c = model.class_index("goldfish")
    _, history = class_visualization(model, c, steps=1, config=SMALL, quiet=True)
    with torch.no_grad():
        expected = model.net(torch.zeros(1, 3, 48, 48))[0, c].item()
    assert history[0] == pytest.approx(expected, abs=1e-5)


def test_class_score_rises(model):
    image, history = class_visualization(model, "goldfish", config=SMALL, quiet=True)
    assert len(history) == SMALL.steps
    assert history[-1] > history[0] + 1.0
    assert image.shape == (1, 3, 48, 48) and 0 <= image.min() and image.max() <= 1
    assert hook_count(model.net) == 0


def test_larger_lambda_gives_a_smaller_image(model):
    norms = {}
    for l2 in (0.0, 0.3):
        image, _ = class_visualization(model, "goldfish", steps=10, l2=l2, config=SMALL, quiet=True)
        norms[l2] = model.to_input(image).norm().item()  # ||I|| in the space the slide penalises
    assert norms[0.3] < 0.9 * norms[0.0]


def test_unknown_class_is_a_readable_error(model):
    with pytest.raises(UnknownNameError, match="unknown class"):
        class_visualization(model, "unicorn", config=SMALL, quiet=True)


def test_class_visualization_interrupt_keeps_the_current_image(model, monkeypatch):
    calls = []

    def interrupted(scores, c, image, l2):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return class_objective(scores, c, image, l2)

    monkeypatch.setattr(class_model, "class_objective", interrupted)
    with pytest.warns(InterruptedWarning):
        image, history = class_visualization(model, "goldfish", config=SMALL, quiet=True)
    assert len(history) == 2
    monkeypatch.undo()                                   # the same two steps, not interrupted: the same image
    two_steps, history_2 = class_visualization(model, "goldfish", config=replace(SMALL, steps=2), quiet=True)
    assert torch.equal(image, two_steps) and history == pytest.approx(history_2)


def test_class_visualization_nan_keeps_the_last_good_image(model, monkeypatch):
    calls = []

    def nan_at_3(scores, c, image, l2):
        calls.append(1)
        value = class_objective(scores, c, image, l2)
        return value * float("nan") if len(calls) == 3 else value

    monkeypatch.setattr(class_model, "class_objective", nan_at_3)
    with pytest.warns(DivergenceWarning):
        image, history = class_visualization(model, "goldfish", config=SMALL, quiet=True)
    assert len(history) == 2
    monkeypatch.undo()           # the last good image: the one evaluated 2nd (after one step), not the diverged step's
    one_step, _ = class_visualization(model, "goldfish", config=replace(SMALL, steps=1), quiet=True)
    assert torch.equal(image, one_step)


# ---- Deep Dream #4 and Google's DeepDream ---------------------------------------------------

def test_dream_changes_the_photo_and_stays_in_range(model, photo):
    out, history = deep_dream(model, photo, "block6", config=QUICK_DREAM, quiet=True)
    assert out.shape == photo.shape
    assert 0 <= out.min() and out.max() <= 1
    assert (out - photo).abs().mean() > 1e-3
    assert history[-1] > history[0]  # amplified: measured 38.95 -> 41.98 (1 and 2 threads), rounding ~1e-5
    assert hook_count(model.net) == 0


def test_random_class_mode_changes_the_photo(model, photo):
    out, history = deep_dream(model, photo, "random_class", config=QUICK_DREAM, quiet=True)
    assert len(history) == 4 and (out - photo).abs().mean() > 1e-3


@pytest.mark.parametrize("objective", ["block4", "random_class"])
def test_same_seed_same_result(model, photo, objective):
    a, _ = deep_dream(model, photo, objective, config=QUICK_DREAM, seed=3, quiet=True)
    b, _ = deep_dream(model, photo, objective, config=QUICK_DREAM, seed=3, quiet=True)
    c, _ = deep_dream(model, photo, objective, config=QUICK_DREAM, seed=4, quiet=True)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_odd_sizes_survive_the_octaves(model):
    odd = torch.rand(1, 3, 45, 67)
    out, _ = deep_dream(model, odd, "block2", octaves=3, octave_scale=1.3, steps=1, config=QUICK_DREAM, quiet=True)
    assert out.shape == odd.shape
    assert dream._octave_sizes((45, 67), 3, 1.3) == [(32, 40), (35, 52), (45, 67)]


def test_tiles_cover_the_image_evenly():
    tiles = dream._tiles(100, 32)
    assert [(s.start, s.stop) for s in tiles] == [(0, 25), (25, 50), (50, 75), (75, 100)]
    assert dream._tiles(20, 32) == [slice(0, 20)]


def test_tiled_dream_matches_shape_and_range(model, photo):
    out, _ = deep_dream(model, photo, "block2", config=DreamConfig(octaves=1, steps=2, jitter=0, tile=24), quiet=True)
    assert out.shape == photo.shape and 0 <= out.min() and out.max() <= 1
    whole, _ = deep_dream(model, photo, "block2", config=DreamConfig(octaves=1, steps=2, jitter=0, tile=56), quiet=True)
    assert not torch.equal(out, whole)          # 24 px tiles were used (the image is 40 x 56: one 56 px tile)


def test_one_channel_objective_and_its_range_check(model, photo):
    out, _ = deep_dream(model, photo, "block2", channel=5, config=QUICK_DREAM, quiet=True)
    assert (out - photo).abs().mean() > 1e-4
    with pytest.raises(ValueError, match="channel 999 is out of range"):
        deep_dream(model, photo, "block2", channel=999, config=QUICK_DREAM, quiet=True)
    assert hook_count(model.net) == 0


def test_bad_inputs_are_readable_errors(model, photo):
    with pytest.raises(UnknownNameError, match="valid layers"):
        deep_dream(model, photo, "block99", config=QUICK_DREAM, quiet=True)
    with pytest.raises(ValueError, match="too small"):
        deep_dream(model, torch.rand(1, 3, 8, 8), "block2", config=QUICK_DREAM, quiet=True)
    with pytest.raises(ValueError, match=r"\[1, 3, H, W\]"):
        deep_dream(model, torch.rand(3, 40, 40), "block2", config=QUICK_DREAM, quiet=True)


def test_hooks_removed_after_an_error_inside_the_forward_pass(model, photo, monkeypatch):
    def broken(*args):
        raise RuntimeError("broken block")

    monkeypatch.setattr(model.layer("block3"), "forward", broken)
    with pytest.raises(RuntimeError, match="broken block"):
        deep_dream(model, photo, "block8", config=QUICK_DREAM, quiet=True)
    assert hook_count(model.net) == 0


def test_dream_interrupt_returns_the_current_image(model, photo):
    calls = []
    layer = dream.layer_objective(model, "block4")

    def interrupted(x):
        calls.append(1)
        if len(calls) == 3:  # the first step of the second octave
            raise KeyboardInterrupt
        return layer(x)

    with pytest.warns(InterruptedWarning):
        out, history = deep_dream(model, photo, interrupted, config=QUICK_DREAM, quiet=True)
    assert len(history) == 2 and out.shape == photo.shape
    assert (out - photo).abs().mean() > 1e-4  # the first octave's detail was kept
    assert hook_count(model.net) == 0


def test_dream_nan_keeps_the_last_good_image(model, photo):
    calls = []

    def nan_at_2(x):
        calls.append(1)
        value = x.mean()
        return value * float("nan") if len(calls) == 2 else value

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out, history = deep_dream(model, photo, nan_at_2, config=QUICK_DREAM, quiet=True)
    assert any(issubclass(w.category, DivergenceWarning) for w in caught)
    assert len(history) == 1
    assert torch.equal(out, photo)   # the last good image is the one evaluated first: the photo, nothing added yet


# ---- "why so many dog faces and eyes?" --------------------------------------------------------

def test_dog_classes_are_found_by_name(model):
    dogs = dream.dog_classes(model)
    assert len(dogs) == 118 and dogs[0] == "Chihuahua" and dogs[-1] == "Mexican hairless"
    assert "golden retriever" in dogs and "timber wolf" not in dogs


def test_pushed_up_lists_the_classes_that_rose_most(model, photo):
    after = (photo + 0.1).clamp(0, 1)
    top = dream.pushed_up(model, photo, after, k=5)
    assert len(top) == 5 and [v for _, v in top] == sorted((v for _, v in top), reverse=True)
    with torch.no_grad():
        rise = model.net(model.to_input(after)) - model.net(model.to_input(photo))
    assert top[0][1] == pytest.approx(rise.max().item(), abs=1e-4)


# ---- the formulas on hand-made inputs (each test fails on a deliberate error that the others miss) ----

def test_class_objective_sums_over_a_batch():
    scores = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])         # [N = 2, 3 classes]
    image = torch.ones(2, 3, 2, 2)                                      # ||I||^2 = 24
    assert class_objective(scores, 2, image, l2=0.5).item() == pytest.approx(3 + 6 - 0.5 * 24)   # not (3 + 6) / 2


class _FakeNet:
    """Stands in for a CourseModel: known activations A [1, 2, 1, 3] and known class scores."""
    categories = [f"class {i}" for i in range(10)]
    A = torch.tensor([[[[1.0, -1.0, 0.0]], [[-1.0, 1.0, 3.0]]]])
    scores = torch.arange(10.0)[None] * 10 + 1                          # S_c = 10 c + 1, [1, 10]

    def layer(self, name):
        return name

    def features(self, x, layer):
        return {layer: self.A * x.sum()}                                # x.sum() = 1 below

    def net(self, x):
        return self.scores * x.sum()


def test_layer_objective_is_the_mean_squared_activation():
    x = torch.ones(1, 1, 1, 1)
    assert dream.layer_objective(_FakeNet(), "block2")(x).item() == pytest.approx((1 + 1 + 0 + 1 + 1 + 9) / 6)
    # one channel: (1 + 1 + 9) / 3, not the plain mean (-1 + 1 + 3) / 3
    assert dream.layer_objective(_FakeNet(), "block2", channel=1)(x).item() == pytest.approx(11 / 3)


def test_random_class_objective_picks_a_new_class_each_step():
    objective = dream.random_class_objective(_FakeNet(), torch.Generator().manual_seed(0))
    values = [objective(torch.ones(1, 1, 1, 1)).item() for _ in range(40)]
    assert all((v - 1) % 10 == 0 and 1 <= v <= 91 for v in values)    # one class's S_c, the others zeroed
    assert len(set(values)) >= 6                                        # not always the same class (40 draws of 10)


# ---- speed: the weights' memory layout (values never change) ------------------------------

def _layouts(net):
    return {name: (p.stride(), p.detach().clone()) for name, p in net.named_parameters()}


def _same_layouts(before, net):
    now = _layouts(net)
    return all(before[k][0] == now[k][0] and torch.equal(before[k][1], now[k][1]) for k in before)


def test_channels_last_keeps_the_gradient_and_restores_the_weights(model):
    before = _layouts(model.net)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))

    def gradient():
        I = x.clone().requires_grad_(True)
        return torch.autograd.grad(model.net(I)[:, 1].sum(), I)[0]

    plain = gradient()
    with dream.channels_last(model.net):
        assert model.net._conv_stem.weight.is_contiguous(memory_format=torch.channels_last)
        fast = gradient()
    assert torch.allclose(fast, plain, rtol=1e-4, atol=1e-6 * plain.abs().max().item())
    assert _same_layouts(before, model.net)


def test_class_visualization_and_dream_leave_the_weights_layout_unchanged(model, photo, monkeypatch):
    before = _layouts(model.net)
    class_visualization(model, "goldfish", config=SMALL, quiet=True)
    deep_dream(model, photo, config=QUICK_DREAM, quiet=True)
    assert _same_layouts(before, model.net)

    def broken(scores, c, image, l2):
        raise ValueError("broken objective")

    monkeypatch.setattr(class_model, "class_objective", broken)
    with pytest.raises(ValueError, match="broken objective"):
        class_visualization(model, "goldfish", config=SMALL, quiet=True)
    assert _same_layouts(before, model.net)
