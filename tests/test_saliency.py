"""Saliency: w = dS_c/dI with three ReLU rules; literal values on a hand-made net; models untouched."""
import pytest
import torch
import torch.nn as nn
import torchvision

from course_lib import UnknownNameError, load_model, sample_image
from course_lib import saliency as sal
from course_lib.hooks import hook_count, relu_backward_rule


def hand_net():
    """S = W2 relu(W1 I) on a 1x1 'image': unit 1 passes with weight -2, unit 2 is off with weight 3."""
    conv = nn.Conv2d(3, 2, 1, bias=False)
    linear = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[1., 0., 0.], [0., 1., 0.]]).view(2, 3, 1, 1))
        linear.weight.copy_(torch.tensor([[-2., 3.], [1., 1.]]))
    return nn.Sequential(conv, nn.ReLU(inplace=True), nn.Flatten(), linear)


I = torch.tensor([1., -1., 0.]).view(1, 3, 1, 1)  # h = W1 I = (1, -1): unit 1 on, unit 2 off


@pytest.mark.parametrize("method, expected", [
    ("gradient", [-2., 0., 0.]),    # R = W2 * [h > 0] = (-2, 0)         -> W1^T R
    ("deconvnet", [0., 3., 0.]),    # R = max(W2, 0) = (0, 3)
    ("guided", [0., 0., 0.]),       # R = max(W2, 0) * [h > 0] = (0, 0)
])
def test_three_rules_on_a_hand_made_net(method, expected):
    w = sal.saliency(hand_net(), I, 0, method)
    assert w.shape == I.shape and w.flatten().tolist() == expected


def test_gradient_is_the_derivative_of_the_class_score(seeded):
    """Slide Saliency Maps #2: <w, v> = (S_c(I + eps v) - S_c(I - eps v)) / (2 eps), in float64."""
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)).double()
    x, v, eps = torch.randn(2, 3, 12, 12, dtype=torch.float64), torch.randn(2, 3, 12, 12, dtype=torch.float64), 1e-6
    w = sal.saliency(net, x, 3, "gradient")
    with torch.no_grad():
        numeric = (net(x + eps * v)[:, 3].sum() - net(x - eps * v)[:, 3].sum()) / (2 * eps)
    assert torch.allclose((w * v).sum(), numeric, rtol=1e-6)


def test_gradient_method_equals_plain_autograd_on_the_bundled_net(model, seeded):
    x = torch.randn(1, 3, 64, 64)
    I = x.clone().requires_grad_(True)
    model.net(I)[0, 281].backward()
    assert torch.equal(sal.saliency(model, x, "tabby", "gradient"), I.grad)  # "tabby" is class 281


@pytest.mark.parametrize("method", sal.METHODS)
def test_torchvision_net_in_train_mode_with_inplace_relu_is_left_untouched(method, seeded):
    net = torchvision.models.alexnet(weights=None)  # train mode, inplace ReLUs, dropout
    net.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = net(x)
    net.train()
    w = sal.saliency(net, x, "goldfish", method)
    assert w.shape == x.shape and torch.isfinite(w).all() and w.abs().max() > 0
    assert net.training and all(m.training for m in net.modules())   # modes restored
    assert hook_count(net) == 0 and all(p.grad is None for p in net.parameters())
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x), before)


def test_methods_differ_on_the_bundled_net(model, seeded):
    maps = sal.compare(model, torch.randn(1, 3, 64, 64), 1)
    assert not torch.allclose(maps["gradient"], maps["guided"])
    assert not torch.allclose(maps["deconvnet"], maps["guided"])
    r = sal.pairwise_correlation(maps)
    assert set(r) == {("gradient", "deconvnet"), ("gradient", "guided"), ("deconvnet", "guided")}
    for (a, b), value in r.items():                   # Pearson r written out, on M = max over channels of |w|
        Ma, Mb = (maps[m].abs().amax(dim=1).flatten().double() for m in (a, b))
        da, db = Ma - Ma.mean(), Mb - Mb.mean()
        assert value == pytest.approx(((da * db).sum() / (da.norm() * db.norm())).item(), abs=1e-5)


def test_functional_relus_are_refused_not_silently_ignored(seeded):
    googlenet = load_model("googlenet", device="cpu", pretrained=False)
    x = torch.randn(1, 3, 64, 64)
    for method in ("deconvnet", "guided"):
        with pytest.raises(sal.UnsupportedModelError, match="calls ReLU as a function"):
            sal.saliency(googlenet, x, 0, method)
    assert sal.saliency(googlenet, x, 0, "gradient").shape == x.shape   # the plain gradient is fine
    assert hook_count(googlenet.net) == 0
    no_relu = nn.Sequential(nn.Conv2d(3, 2, 1), nn.GELU(), nn.Flatten(), nn.LazyLinear(4))
    with pytest.raises(sal.UnsupportedModelError, match="has none"):
        sal.saliency(no_relu, torch.randn(1, 3, 2, 2), 0, "guided")


def test_bad_input_gives_clear_errors_and_leaves_the_model_untouched(model, seeded):
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        before = model.net(x)
    with pytest.raises(UnknownNameError, match="out of range 0..999"):
        sal.saliency(model, x, 1000, "guided")
    with pytest.raises(UnknownNameError, match="valid classs|valid class"):
        sal.saliency(model, x, "not a class", "guided")
    with pytest.raises(UnknownNameError, match="out of range 0..1"):
        sal.saliency(hand_net(), I, 2)          # a plain module: checked against its output size
    with pytest.raises(ValueError, match="unknown method"):
        sal.saliency(model, x, 1, "smoothgrad")
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        sal.saliency(model, x[0], 1)
    with pytest.raises(ValueError, match="class index or a category name"):
        sal.saliency(hand_net(), I, 1.5)
    assert hook_count(model.net) == 0
    with torch.no_grad():
        assert torch.equal(model.net(x), before)


def test_display_helpers():
    w = torch.tensor([[[[1., -4.]], [[-3., 2.]], [[0., 0.]]]])   # [1, 3, 1, 2]
    assert sal.saliency_map(w).tolist() == [[[3., 4.]]]              # max over channels of |w|
    picture = sal.colour_image(w, percentile=100)
    assert picture.shape == w.shape and picture.min() >= 0 and picture.max() <= 1
    assert picture[0, 2].flatten().tolist() == [0.5, 0.5]            # zero gradient is grey
    assert picture[0, 0, 0, 1].item() == 0.0                         # the largest negative value is black
    M = sal.map_image(torch.arange(12.).view(1, 3, 2, 2), percentile=50)   # M = (8, 9, 10, 11), median 9.5
    assert M.shape == (1, 2, 2) and M.flatten().tolist() == pytest.approx([8 / 9.5, 9 / 9.5, 1, 1])
    assert sal.pairwise_correlation({"a": w, "b": 2 * w})[("a", "b")] == pytest.approx(1.0)


# ---- averaged maps: SmoothGrad and the stride lattice --------------------------------------

def strided_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))


def test_lattice_order_and_shift():
    assert sal.lattice(2) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert set(sal.lattice(4)[:4]) == {(0, 0), (0, 1), (1, 0), (1, 1)} and len(set(sal.lattice(4))) == 16
    I = torch.arange(12.).view(1, 1, 3, 4)
    assert sal.shifted(I, 1, 2)[0, 0].tolist() == [[0, 0, 0, 1], [0, 0, 0, 1], [4, 4, 4, 5]]   # down 1, right 2


@pytest.mark.parametrize("method", sal.METHODS)
def test_averaged_map_is_the_mean_of_the_gradients_shifted_back(method, seeded):
    """Independent form: each copy's gradient w.r.t. the shifted image J, shifted back by hand."""
    net, x = strided_net(), torch.randn(1, 3, 12, 12)
    w = sal.saliency(net, x, 2, method, samples=4, shift=2)
    by_hand = torch.zeros_like(x)
    for dy, dx in sal.lattice(2):
        J = sal.shifted(x, dy, dx).clone().requires_grad_(True)
        with relu_backward_rule(net, method):
            (g,) = torch.autograd.grad(net(J)[0, 2], J)
        # J[i] = x[max(i - dy, 0)]: every J pixel hands its gradient to the x pixel it copies
        for i in range(12):
            for j in range(12):
                by_hand[..., max(i - dy, 0), max(j - dx, 0)] += g[..., i, j]
    assert torch.allclose(w, by_hand / 4, atol=1e-6)
    assert hook_count(net) == 0


def test_smoothgrad_is_the_mean_over_noisy_copies(seeded):
    net, x = strided_net(), torch.randn(2, 3, 12, 12)
    w = sal.saliency(net, x, 1, "gradient", samples=3, shift=1, noise=0.2, seed=5, batch=2)
    generator, sigma, by_hand = torch.Generator().manual_seed(5), 0.2 * (x.max() - x.min()), torch.zeros_like(x)
    for _ in range(3):
        J = (x + sigma * torch.randn(x.shape, generator=generator)).requires_grad_(True)
        by_hand += torch.autograd.grad(net(J)[:, 1].sum(), J)[0]
    assert torch.allclose(w, by_hand / 3, atol=1e-6)
    assert not torch.allclose(w, sal.saliency(net, x, 1, "gradient", samples=3, shift=1, noise=0.2, seed=6))
    assert torch.equal(sal.saliency(net, x, 1, samples=1, noise=0.0), sal.saliency(net, x, 1))   # samples=1: plain


def test_bad_averaging_options_give_readable_errors(seeded):
    net, x = strided_net(), torch.randn(1, 3, 8, 8)
    for kwargs, message in [({"samples": 0}, "samples must be a whole number"), ({"samples": 2.5}, "samples"),
                            ({"shift": 0}, "shift must be"), ({"samples": 4, "shift": 9}, "larger than the image"),
                            ({"noise": -0.1}, "noise is sigma"), ({"noise": "lots"}, "noise is sigma"),
                            ({"batch": 0}, "batch must be")]:
        with pytest.raises(ValueError, match=message):
            sal.saliency(net, x, 0, "guided", **kwargs)
    assert hook_count(net) == 0


def test_lattice_energy_finds_a_checkerboard():
    checker = (torch.arange(16).view(1, 16) + torch.arange(16).view(16, 1)) % 2      # period 2
    smooth = torch.linspace(0, 1, 16).view(1, 16).expand(16, 16)
    assert sal.lattice_energy((checker + smooth).expand(1, 3, 16, 16), 2) > 0.5
    assert sal.lattice_energy(smooth.expand(1, 3, 16, 16).contiguous(), 2) < 0.05


@pytest.fixture(scope="module")
def cat_maps(model):
    x = model.preprocess(sample_image("chelsea", 128))
    with torch.no_grad():
        before = model.net(x)
    maps = {(m, n): sal.saliency(model, x, "Egyptian cat", m, samples=n) for m in ("gradient", "guided") for n in (1, 16)}
    with torch.no_grad():
        assert torch.equal(model.net(x), before)
    assert hook_count(model.net) == 0
    return maps


@pytest.mark.parametrize("method", ["gradient", "guided"])
def test_lattice_averaging_removes_the_stride_checkerboard_on_the_cat(cat_maps, method):
    """Judged by an image statistic: power at the period-4 frequencies (chance ~0.0014 for 84 x 128 px).
    Measured: plain 0.027 (gradient) / 0.036 (guided); averaged over the 4 x 4 lattice 0.0008 / 0.0005."""
    plain, averaged = (sal.lattice_energy(cat_maps[method, n], 4).item() for n in (1, 16))
    assert plain > 0.01 > 0.002 > averaged
    assert cat_maps[method, 16].shape == cat_maps[method, 1].shape


def test_deconvnet_projection_takes_the_same_options(model, seeded):
    from course_lib import deconvnet as dc
    x = torch.randn(1, 3, 64, 64)
    plain = dc.project(model, x, "block3", 2, method="guided")
    assert torch.equal(dc.project(model, x, "block3", 2, method="guided", samples=1), plain)
    averaged = dc.project(model, x, "block3", 2, method="guided", samples=4, shift=2, noise=0.1)
    assert averaged.shape == x.shape and not torch.allclose(averaged, plain)
    with pytest.raises(ValueError, match="samples must be"):
        dc.project(model, x, "block3", 2, samples=-1)
    assert hook_count(model.net) == 0


def test_averaged_projection_keeps_one_unit_in_every_copy(model, seeded):
    """keep='max' with samples > 1: the unit strongest on the image, the same (channel, position) in all copies."""
    from course_lib import deconvnet as dc
    x = torch.randn(1, 3, 64, 64)
    a = model.features(x, ["block5"])["block5"].detach()
    j = a[:, 4].reshape(1, -1).argmax(dim=1)
    z = dc.keep_unit(a, 4, "max", at=j)
    assert torch.equal(z, dc.keep_unit(a, 4, "max"))                      # on the image itself: the strongest one
    R = dc.project(model, x, "block5", 4, "max", "gradient", samples=4, shift=2)
    by_hand = torch.zeros_like(x)
    for dy, dx in sal.lattice(2):
        I = x.clone().requires_grad_(True)
        f = model.features(sal.shifted(I, dy, dx), ["block5"])["block5"]
        by_hand += torch.autograd.grad(f, I, dc.keep_unit(f.detach(), 4, "max", at=j))[0]
    assert torch.allclose(R, by_hand / 4, atol=1e-5)
    with pytest.raises(ValueError, match="channel 999 is out of range"):
        dc.project(model, x, "block5", 999, samples=4)
    assert hook_count(model.net) == 0
