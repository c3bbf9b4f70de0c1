"""Deconvnet: the mirror network equals backprop with the deconvnet rule; formula (1); patches."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib import UnknownNameError, load_model
from course_lib import deconvnet as dc
from course_lib.hooks import hook_count, relu_backward_rule


@pytest.fixture(scope="module")
def vgg():
    torch.manual_seed(0)
    return load_model("vgg16", device="cpu", pretrained=False)


def relative_error(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("layer", ["relu1_2", "pool2", "conv3_1", "relu4_3", "pool5"])
@pytest.mark.parametrize("keep", ["max", "map"])
def test_mirror_equals_rule_form_on_vgg16(vgg, layer, keep, seeded):
    x = torch.randn(2, 3, 64, 64)
    mirror = dc.DeconvNet.from_model(vgg).project(x, layer, 3, keep)
    rule = dc.project(vgg, x, layer, 3, keep)
    assert rule.shape == x.shape and rule.abs().max() > 0
    assert relative_error(mirror, rule) < 1e-5
    assert hook_count(vgg.net) == 0


def test_mirror_is_not_the_plain_gradient(vgg, seeded):
    """The comparison above can fail: the plain-gradient rule gives a different projection."""
    x = torch.randn(1, 3, 64, 64)
    mirror = dc.DeconvNet.from_model(vgg).project(x, "relu3_3", 0)
    I = x.clone().requires_grad_(True)
    with relu_backward_rule(vgg.net, "gradient"):
        a = vgg.features(I, ["relu3_3"])["relu3_3"]
        (gradient,) = torch.autograd.grad(a, I, dc.keep_unit(a, 0))
    assert relative_error(mirror, gradient) > 1e-2


def test_mirror_equals_rule_form_on_alexnet_strides_and_overlapping_pools(seeded):
    """AlexNet: stride-4 conv (97 px leaves 2 columns the transposed conv must add back), 3x3/2 pools."""
    alex = load_model("alexnet", device="cpu", pretrained=False)
    mirror = dc.DeconvNet.from_model(alex)
    x = torch.randn(1, 3, 97, 97)
    for layer in ["pool1", "relu2_1", "pool2", "relu3_3"]:
        assert relative_error(mirror.project(x, layer, 1), dc.project(alex, x, layer, 1)) < 1e-5


def test_mirror_forward_is_the_network_forward(vgg, seeded):
    x = torch.randn(1, 3, 32, 32)
    a, trace = dc.DeconvNet.from_model(vgg).forward(x, "pool3")
    with torch.no_grad():
        assert torch.allclose(a, vgg.net.features[:17](x))
    assert len(trace) == 17 and sum(s is not None for _, s in trace) == 3  # three pools, three switch maps


def test_unpool_puts_values_back_at_the_switches():
    x = torch.tensor([[1., 5., 0., 2.], [3., 4., 7., 1.], [0., 0., 1., 1.], [9., 2., 3., 8.]]).view(1, 1, 4, 4)
    y, switches = F.max_pool2d(x, 2, return_indices=True)
    assert y.flatten().tolist() == [5., 7., 9., 8.]
    up = dc.unpool(torch.tensor([10., 20., 30., 40.]).view(1, 1, 2, 2), switches, x.shape)
    assert up.view(4, 4).tolist() == [[0, 10, 0, 0], [0, 0, 20, 0], [0, 0, 0, 0], [30, 0, 0, 40]]


def test_formula_1_transposed_filters(seeded):
    """y^c = sum_k z_k * f_k^c, the transposed convolution, and the adjoint of the forward conv."""
    conv = nn.Conv2d(3, 4, 3, bias=False)
    z = torch.randn(2, 4, 5, 6)                                  # [N, K, h, w]
    by_formula = dc.deconvolve_by_formula(z, conv.weight.detach())
    y = dc.deconvolve(z, conv, (2, 3, 7, 8))
    assert y.shape == (2, 3, 7, 8)
    assert torch.allclose(y, by_formula, atol=1e-5)
    x = torch.randn(2, 3, 7, 8)                                  # <conv(x), z> == <x, deconvolve(z)>
    assert torch.allclose((conv(x) * z).sum(), (x * y).sum(), rtol=1e-4)


def test_formula_1_by_hand():
    """One 2x2 filter, one unit: the projection is the filter itself, placed at the unit."""
    f = torch.tensor([[1., 2.], [3., 4.]]).view(1, 1, 2, 2)
    z = torch.tensor([[0., 0.], [0., 1.]]).view(1, 1, 2, 2)
    y = dc.deconvolve_by_formula(z, f)
    assert y.view(3, 3).tolist() == [[0, 0, 0], [0, 1, 2], [0, 3, 4]]


def test_keep_unit():
    a = torch.tensor([[1., -2.], [3., 0.5]]).view(1, 1, 2, 2).repeat(1, 2, 1, 1)  # [1, 2, 2, 2]
    z = dc.keep_unit(a, 1)
    assert z[0, 1].tolist() == [[0, 0], [3, 0]] and z[0, 0].abs().sum() == 0
    assert torch.equal(dc.keep_unit(a, 0, "map")[0, 0], a[0, 0])
    with pytest.raises(ValueError, match="out of range 0..1"):
        dc.keep_unit(a, 2)
    with pytest.raises(ValueError, match="keep"):
        dc.keep_unit(a, 0, "all")


def test_rule_form_on_the_bundled_net_is_backprop_with_the_deconvnet_rule(model, seeded):
    """The projection equals autograd of the kept unit with the ReLUs' backward swapped (slide: Saliency Maps #3)."""
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = model.net(x)
    for layer in ["stem", "block5", "head", "logits"]:
        R = dc.project(model, x, layer, 2)
        I = x.clone().requires_grad_(True)
        with relu_backward_rule(model.net, "deconvnet"):
            a = model.features(I, [layer])[layer]
            (by_hand,) = torch.autograd.grad(a, I, dc.keep_unit(a, 2))
        (gradient,) = torch.autograd.grad(model.features(I, [layer])[layer], I, dc.keep_unit(a, 2))
        assert R.abs().max() > 0 and torch.allclose(R, by_hand, atol=1e-6 * by_hand.abs().max().item())
        if layer != "stem":     # the stem: one ReLU, at the kept active unit (seed >= 0): both rules agree
            assert not torch.allclose(R, gradient, atol=1e-3 * gradient.abs().max().item())
    with torch.no_grad():
        assert torch.equal(model.net(x), before)
    assert hook_count(model.net) == 0


def test_bad_input_gives_clear_errors_and_leaves_no_hooks(model, vgg):
    x = torch.randn(1, 3, 32, 32)
    with pytest.raises(UnknownNameError, match="valid layers"):
        dc.project(model, x, "block99", 0)
    with pytest.raises(ValueError, match="out of range 0..31"):
        dc.project(model, x, "stem", 32)
    with pytest.raises(UnknownNameError):
        dc.DeconvNet.from_model(vgg).project(x, "fc6", 0)   # not in the feature stack
    with pytest.raises(ValueError, match="no sequential `features`"):
        dc.DeconvNet.from_model(model)
    with pytest.raises(ValueError, match="BatchNorm2d"):
        dc.DeconvNet(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)))
    assert hook_count(model.net) == 0 and hook_count(vgg.net) == 0


def test_top_patches_over_a_small_pool(model):
    config = dc.PatchConfig(size=64, crop_scales=(0.5,), top_k=3, samples=("chelsea", "waves"))
    images, labels = dc.image_pool(config)
    assert images.shape == (12, 3, 64, 64) and len(labels) == 12 and labels[1] == "chelsea top left x2"
    patches = dc.top_patches(model, "block2", 5, (images, labels), config)
    values = [p.value for p in patches]
    assert len(patches) == 3 and values == sorted(values, reverse=True)
    with torch.no_grad():
        a = model.features(model.to_input(images), ["block2"])["block2"][:, 5]       # [12, h, w]
    expected = a.flatten(1).amax(1).topk(3)                                         # the strongest unit per image
    assert values == pytest.approx(expected.values.tolist(), rel=1e-4)
    assert [p.label for p in patches] == [labels[i] for i in expected.indices.tolist()]
    assert all(p.image.size == p.projection.size for p in patches)
    with pytest.raises(ValueError, match="out of range"):
        dc.top_patches(model, "block2", 999, (images, labels), config)
    assert hook_count(model.net) == 0


def test_support_box():
    R = torch.zeros(3, 40, 40)
    R[1, 10:14, 20:30] = 1.0                      # 4 x 10 pixels: spread sqrt(99/12) = 2.87 columns
    left, top, right, bottom = dc.support_box(R, min_side=4)
    assert right - left == bottom - top == 12     # 4 * 2.87 + 1, rounded
    assert left <= 20 and right >= 30 and top <= 10 and bottom >= 14
    R[:] = 0
    R[0, 0, 0] = 1.0                              # a corner: the box is clipped to the image
    assert dc.support_box(R) == (0, 0, 16, 16)
    assert dc.support_box(torch.zeros(3, 40, 40)) == (0, 0, 40, 40)


def test_method_swaps_the_relu_rule(model, seeded):
    x = torch.randn(1, 3, 64, 64)
    I = x.clone().requires_grad_(True)
    a = model.features(I, ["block4"])["block4"]
    (gradient,) = torch.autograd.grad(a, I, dc.keep_unit(a, 3))
    assert torch.allclose(dc.project(model, x, "block4", 3, method="gradient"), gradient, atol=1e-6)
    assert not torch.allclose(dc.project(model, x, "block4", 3, method="guided"), gradient, atol=1e-6)
    with pytest.raises(ValueError, match="unknown method"):
        dc.project(model, x, "block4", 3, method="smooth")


def test_pool_activations_are_reused_only_for_the_same_model_pool_and_layer(model):
    images = torch.rand(3, 3, 32, 32)
    a = dc.pool_activations(model, "block1", images)
    assert dc.pool_activations(model, "block1", images) is a               # same pool and layer: reused
    assert dc.pool_activations(model, "block2", images) is not a
    other = dc.pool_activations(model, "block1", images.clone() * 0.5)
    assert not torch.allclose(other, a)                                    # another pool: recomputed
    with torch.no_grad():
        assert torch.allclose(a, model.features(model.to_input(images), ["block1"])["block1"], atol=1e-5)


def test_averaged_projection_bounds_the_images_per_pass(model, monkeypatch):
    """``batch`` caps the images in one forward/backward pass (Binder's 2 GB), whatever the number of images."""
    x = model.to_input(torch.rand(3, 3, 32, 32))
    sizes, features = [], model.features
    monkeypatch.setattr(model, "features", lambda X, layers: sizes.append(len(X)) or features(X, layers))
    R = dc.project(model, x, "block2", 0, "max", "guided", samples=4, shift=2, batch=4)
    assert R.shape == x.shape and max(sizes) <= 4, sizes
    at_once = dc.project(model, x, "block2", 0, "max", "guided", samples=4, shift=2, batch=12)   # all 12 copies
    assert max(sizes) == 12 and torch.allclose(R, at_once, atol=1e-5 * at_once.abs().max().item())   # same mean
