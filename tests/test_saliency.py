"""Saliency: w = dS_c/dI with three ReLU rules; literal values on a hand-made net; models untouched."""
import pytest
import torch
import torch.nn as nn
import torchvision

from course_lib import UnknownNameError, load_model
from course_lib import saliency as sal
from course_lib.hooks import hook_count


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
