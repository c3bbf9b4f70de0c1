"""class_visualization(recipe="slide" | "distill") and course_lib.feature_vis (Olah et al., Distill 2017)."""
import copy

import pytest
import torch

from course_lib import feature_vis
from course_lib.dream import ClassVisConfig, class_config, class_visualization
from course_lib.feature_vis import ImageParam, frequency_weights, high_frequency_share, random_transform
from course_lib.hooks import hook_count

DISTILL = class_config("distill", steps=6, size=48, jitter=2, scale=0.05, rotate=5.0)


def test_distill_shapes_range_and_rising_score(model):
    state = copy.deepcopy(model.net.state_dict())
    image, history = class_visualization(model, "goldfish", recipe="distill", config=DISTILL, quiet=True)
    assert image.shape == (1, 3, 48, 48) and 0 <= image.min() and image.max() <= 1
    assert len(history) == DISTILL.steps and history[-1] > history[0] + 1.0
    assert hook_count(model.net) == 0
    assert all(torch.equal(v, state[k]) for k, v in model.net.state_dict().items())   # model unchanged
    assert not any(p.requires_grad for p in model.net.parameters())


def test_distill_starts_from_the_mean_grey_image(model):
    c = model.class_index("goldfish")
    _, history = class_visualization(model, c, config=class_config("distill", steps=1, size=48), quiet=True)
    with torch.no_grad():
        expected = model.net(model.to_input(torch.full((1, 3, 48, 48), 0.5)))[0, c].item()
    assert history[0] == pytest.approx(expected, abs=1e-4)   # sigmoid(0) = 0.5; rotation/scale of a flat image is flat


def test_recipes_give_their_lecture_defaults():
    assert class_config("slide") == ClassVisConfig()
    distill = class_config("distill")
    assert distill.recipe == "distill" and distill.fourier and distill.decorrelate
    assert distill.blur_every == 0 and class_config("distill", fourier=False).fourier is False


def test_bad_recipe_is_a_readable_error(model):
    with pytest.raises(ValueError, match=r"unknown recipe 'lucid'.*'slide'.*'distill'"):
        class_visualization(model, "goldfish", recipe="lucid", config=None, quiet=True)
    with pytest.raises(ValueError, match="unknown recipe 'lucid'"):
        class_config("lucid")
    with pytest.raises(ValueError, match="recipe='distill' but config is a 'slide' config"):
        class_visualization(model, "goldfish", recipe="distill", config=ClassVisConfig(steps=1, size=32), quiet=True)
    assert hook_count(model.net) == 0


def test_same_seed_same_picture(model):
    a, _ = class_visualization(model, "flamingo", config=DISTILL, seed=1, quiet=True)
    b, _ = class_visualization(model, "flamingo", config=DISTILL, seed=1, quiet=True)
    c, _ = class_visualization(model, "flamingo", config=DISTILL, seed=2, quiet=True)
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("switch", [{"fourier": False}, {"decorrelate": False}, {"jitter": 0, "scale": 0.0, "rotate": 0.0}])
def test_each_trick_can_be_switched_off(model, switch):
    steady = {"scale": 0.0, "rotate": 0.0, "lr": 0.02, **switch}   # 40 px, 8 steps: small, steady steps
    image, _ = class_visualization(model, "goldfish", config=class_config("distill", steps=8, size=40, **steady), quiet=True)
    c = model.class_index("goldfish")
    with torch.no_grad():
        grey, final = model.net(model.to_input(torch.cat([torch.full_like(image, 0.5), image])))[:, c]
    assert image.shape == (1, 3, 40, 40) and final > grey + 1.0


# ---- the pieces, checked against independent formulations --------------------------------------

def test_colour_matrix_is_the_square_root_of_the_photo_covariance():
    M = feature_vis.colour_sqrt_covariance().double()
    assert torch.allclose(M, M.T, atol=1e-6)                   # symmetric square root
    assert M.norm(dim=0).max().item() == pytest.approx(1.0, abs=1e-6)
    sigma = M @ M                                               # proportional to the RGB covariance
    corr = sigma / torch.outer(sigma.diag().sqrt(), sigma.diag().sqrt())
    assert 0.5 < corr[0, 1] < 1 and 0.5 < corr[1, 2] < 1        # neighbouring colours of photos correlate


def test_fourier_weights_follow_one_over_f():
    w = frequency_weights(32, 32)
    assert w.shape == (32, 17)
    assert w.pow(2).mean().item() == pytest.approx(1.0, rel=1e-5)
    assert w[0, 4] / w[0, 8] == pytest.approx(2.0, rel=1e-5)     # f = 4/32 vs 8/32 cycles/pixel
    assert w[0, 0] == w[0, 1]                                   # DC clamped at the lowest frequency


def test_fourier_image_is_the_inverse_fft():
    param = ImageParam(16, fourier=True, decorrelate=False)
    with torch.no_grad():
        param.Z.normal_(0, 0.3)
    spectrum = torch.view_as_complex(param.Z.detach()) * frequency_weights(16, 16)
    # an independent formulation: the full complex ifft2 of the Hermitian-completed spectrum (real part)
    expected = torch.sigmoid(torch.fft.irfftn(spectrum, s=(16, 16), dim=(-2, -1), norm="ortho"))
    assert torch.allclose(param.image().detach(), expected, atol=1e-6)
    assert param.image().shape == (1, 3, 16, 16)


def test_random_transform_keeps_size_and_identity_when_off(seeded):
    x = torch.rand(1, 3, 20, 24, generator=seeded)
    assert torch.equal(random_transform(x, seeded), x)
    y = random_transform(x, seeded, jitter=3, scale=0.1, rotate=10)
    assert y.shape == x.shape and not torch.allclose(y, x)
    flat = torch.full((1, 3, 20, 24), 0.3)                      # a flat picture stays flat under any T
    assert torch.allclose(random_transform(flat, seeded, jitter=3, scale=0.1, rotate=10), flat, atol=1e-6)


def test_high_frequency_share_tells_noise_from_smooth_pictures(seeded):
    noise = torch.rand(1, 3, 64, 64, generator=seeded)
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    smooth = (0.5 + 0.4 * torch.sin(2 * torch.pi * xx / 32) * torch.cos(2 * torch.pi * yy / 64)).expand(1, 3, 64, 64)
    assert high_frequency_share(smooth) < 1e-6
    # white noise: the share of the frequency square outside the circle of radius 0.25
    assert high_frequency_share(noise) == pytest.approx(1 - torch.pi * 0.25 ** 2, abs=0.05)
    checker = ((xx + yy) % 2).expand(1, 3, 64, 64)
    assert high_frequency_share(checker) == pytest.approx(1.0)


# ---- the point of the recipe, judged by an image statistic (not by the network that made it) -----

def test_distill_picture_is_less_noisy_than_the_slide_picture(model):
    slide, _ = class_visualization(model, "goldfish", config=ClassVisConfig(steps=30, size=96, jitter=4, blur_every=0), quiet=True)
    distill, _ = class_visualization(model, "goldfish", config=class_config("distill", steps=30, size=96), quiet=True)
    assert high_frequency_share(distill) < 0.5 * high_frequency_share(slide)


# ---- the independent judge (benchmarks/judge.py): a second ImageNet network, never used to make pictures -

def test_the_judge_is_a_working_second_network():
    judge_module = pytest.importorskip("benchmarks.judge")
    try:
        judge = judge_module.Judge()
    except judge_module.JudgeUnavailable as e:
        pytest.skip(str(e))
    from course_lib import sample_image
    from course_lib.images import image_to_tensor

    coffee = image_to_tensor(sample_image("coffee"))
    assert judge.top(coffee, 1)[0][0] == "espresso"
    assert judge.rank(coffee, judge.categories.index("espresso")).item() == 0
    cat = image_to_tensor(sample_image("chelsea"))
    assert judge.top(cat, 1)[0][0] in {"tabby", "tiger cat", "Egyptian cat"}


def test_distill_with_adam_and_a_bad_optimizer_name(model):
    image, _ = class_visualization(model, "goldfish", config=class_config("distill", steps=3, size=32, optimizer="adam"), quiet=True)
    assert image.shape == (1, 3, 32, 32)
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        class_visualization(model, "goldfish", config=class_config("distill", steps=3, size=32, optimizer="sgd"), quiet=True)
    assert hook_count(model.net) == 0


# ---- notebook 04: the widgets' first runs reuse the pictures above; a click recomputes ----------

CLICK_CHECK = '''
assert first_runs == [], f"a widget's first run recomputed instead of showing the picture above: {first_runs}"
made = []
_class_visualization, _deep_dream = class_visualization, deep_dream
def class_visualization(*args, **kwargs):          # the name the callback looks up: count the real calls
    result = _class_visualization(*args, **kwargs); made.append(("class", kwargs.get("steps"))); return result
def deep_dream(*args, **kwargs):
    result = _deep_dream(*args, **kwargs); made.append(("dream", kwargs.get("steps"))); return result
class_box.value, steps_slider.value = "flamingo", 2
on_class_run()                                      # what the button calls (an Output widget swallows errors:
                                                    # ``made`` only grows when a call succeeded)
dream_steps.value, octaves_slider.value = 1, 1
on_dream()
run_button.click(); dream_button.click()            # the buttons are wired to the callbacks
assert made == [("class", 2), ("dream", 1), ("class", 2), ("dream", 1)], made
print("widgets recomputed", made)
'''


def test_notebook_04_widgets_show_the_pictures_above_and_recompute_when_clicked():
    from pathlib import Path

    import nbformat

    from course_lib.notebook_runner import run_notebook

    path = Path(__file__).resolve().parents[1] / "notebooks" / "04_class_visualization_deepdream.ipynb"
    nb = nbformat.read(path, as_version=4)
    first = next(i for i, c in enumerate(nb.cells) if "on_class_run(" in c.source and "def " in c.source)
    last = next(i for i, c in enumerate(nb.cells) if "on_dream(" in c.source and "def " in c.source)
    # the first runs show what the cells above made (the same objects): a computation there is recorded
    nb.cells.insert(last + 1, nbformat.v4.new_code_cell(CLICK_CHECK))
    for index, name in ((last, "deep_dream"), (first, "class_visualization")):
        nb.cells.insert(index + 1, nbformat.v4.new_code_cell(f"{name} = _real"))
        nb.cells.insert(index, nbformat.v4.new_code_cell(
            f"first_runs = globals().get('first_runs', [])\n_real = {name}\n"
            f"def {name}(*args, **kwargs):\n    first_runs.append({name!r}); return _real(*args, **kwargs)"))
    text = run_notebook(nb, cwd=path.parent, quick=True,
                        env={"COURSE_LIB_TESTING": "1", "MPLBACKEND": "Agg"}).text()
    assert "widgets recomputed" in text
