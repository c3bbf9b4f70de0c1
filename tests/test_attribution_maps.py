"""Occlusion, Grad-CAM, Guided Grad-CAM, integrated gradients: each against an independent computation
(a loop, a few lines of autograd on the split network), on the bundled net and random torchvision nets;
no hook and no changed model left behind, also after an error; readable errors."""
import pytest
import torch
import torch.nn.functional as F

import course_lib
from course_lib import ImageError, UnknownNameError, load_model, sample_image
from course_lib.grad_cam import cam_parts, default_layer, grad_cam, guided_grad_cam
from course_lib.hooks import hook_count
from course_lib.samples import image_tensor
from course_lib.integrated_gradients import completeness_error, integrated_gradients, path_integral, quadrature
from course_lib.occlusion import occlusion_map, strongest_channel
from course_lib.saliency import UnsupportedModelError, saliency


@pytest.fixture(scope="module")
def alexnet():
    torch.manual_seed(0)
    return load_model("alexnet", device="cpu", pretrained=False)


@pytest.fixture(scope="module")
def cat():
    return image_tensor(sample_image("chelsea", 64))          # [1, 3, 43, 64] in [0, 1]


def test_public_entry_points():
    for name in ("occlusion_map", "grad_cam", "guided_grad_cam", "integrated_gradients"):
        assert callable(getattr(course_lib, name))


# ---- Grad-CAM: against autograd on the network split at the layer by hand -------------------

def split_alexnet(model, layer):
    """The layer's index in ``features``; S = classifier(avgpool(features[k+1:](A)))."""
    k = list(model.net.features).index(model.layers[layer])
    below = lambda I: model.net.features[:k + 1](I)
    above = lambda A: model.net.classifier(torch.flatten(model.net.avgpool(model.net.features[k + 1:](A.clone())), 1))
    return below, above


def cam_by_hand(A, dS_dA):
    alpha = dS_dA.mean(dim=(2, 3))                                                  # [1, K]
    return torch.relu((alpha[:, :, None, None] * A).sum(dim=1))[0]                   # [h, w]


@pytest.mark.parametrize("layer", ["relu3_3", "conv3_3", "relu2_1"])   # conv3_3: an in-place ReLU follows it
def test_grad_cam_is_the_channel_weighted_map_of_autograd_on_alexnet(alexnet, layer, seeded):
    x01 = torch.rand(1, 3, 96, 96)
    below, above = split_alexnet(alexnet, layer)
    A = below(alexnet.to_input(x01)).detach().requires_grad_(True)                  # [1, K, h, w]
    (dS_dA,) = torch.autograd.grad(above(A)[0, 7], A)
    L = cam_by_hand(A.detach(), dS_dA)
    parts = cam_parts(alexnet, x01, 7, layer)
    assert L.max() > 0 and torch.allclose(parts["L"], L, atol=1e-5 * L.max().item())
    M = grad_cam(alexnet, x01, 7, layer=layer)
    up = F.interpolate(L[None, None], size=(96, 96), mode="bilinear", align_corners=False)[0, 0]
    assert M.shape == (96, 96) and torch.allclose(M, up / up.max(), atol=1e-4)
    assert hook_count(alexnet.net) == 0


def test_grad_cam_on_the_bundled_head_against_autograd(model, cat):
    net = model.net
    I = model.to_input(cat)
    with torch.no_grad():
        h = net.stem_relu(net._bn0(net._conv_stem(I)))
        for block in net._blocks:
            h = block(h)
        A = net.head_relu(net._bn1(net._conv_head(h)))                                # [1, 1280, 2, 2]
    A.requires_grad_(True)
    (dS_dA,) = torch.autograd.grad(net._fc(A.mean(dim=(2, 3)))[0, 285], A)
    parts = cam_parts(model, cat, 285, "head")
    assert torch.allclose(parts["alpha"], dS_dA.mean(dim=(2, 3))[0], atol=1e-7)
    assert torch.allclose(parts["L"], cam_by_hand(A.detach(), dS_dA), atol=1e-5)
    M = grad_cam(model, cat, "Egyptian cat")
    assert M.shape == cat.shape[-2:] and M.min() >= 0 and M.max() == 1
    assert default_layer(model) == "head" and hook_count(model.net) == 0


def test_default_layers_and_guided_grad_cam_is_the_product(alexnet, model, cat, seeded):
    assert default_layer(alexnet) == "relu3_3"
    assert default_layer(load_model("vgg16", device="cpu", pretrained=False)) == "relu5_3"
    G = guided_grad_cam(model, cat, 285)
    expected = saliency(model, model.to_input(cat), 285, "guided") * grad_cam(model, cat, 285)
    assert G.shape == cat.shape and torch.allclose(G, expected) and G.abs().max() > 0
    googlenet = load_model("googlenet", device="cpu", pretrained=False)
    assert grad_cam(googlenet, cat, 3).shape == cat.shape[-2:]                  # the plain gradient is fine
    with pytest.raises(UnsupportedModelError, match="calls ReLU as a function"):
        guided_grad_cam(googlenet, cat, 3)                                      # guided backprop cannot reach it
    assert hook_count(googlenet.net) == 0


# ---- occlusion: against a loop over the square's positions -------------------------------------

def occlusion_by_loop(q, x01, window, stride, grey):
    H, W = x01.shape[-2:]
    total, count = torch.zeros(H, W), torch.zeros(H, W)
    tops = sorted(set(range(0, H - window + 1, stride)) | {H - window})
    lefts = sorted(set(range(0, W - window + 1, stride)) | {W - window})
    with torch.no_grad():
        for t in tops:
            for l in lefts:
                I = x01.clone()
                I[..., t:t + window, l:l + window] = grey
                total[t:t + window, l:l + window] += (q(x01) - q(I)).item()
                count[t:t + window, l:l + window] += 1
    return total / count


def test_occlusion_of_the_class_probability_equals_the_loop(model, cat):
    p = lambda I: model.net(model.to_input(I)).softmax(dim=1)[0, 285]
    M = occlusion_map(model, cat, "Egyptian cat", window=16, stride=12, baseline=0.5, batch=5)
    assert M.shape == cat.shape[-2:]
    assert torch.allclose(M, occlusion_by_loop(p, cat, 16, 12, 0.5), atol=2e-5)   # batched vs one by one: float32 noise
    assert M.abs().max() > 1e-4


def test_strongest_channel_is_the_strongest_single_response():
    """Channel 0 answers one red pixel with 10; channel 1 answers the green everywhere with 0.5 (larger in total)."""
    from course_lib.models import CourseModel
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1, bias=False), torch.nn.ReLU())
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[10., 0., 0.], [0., 1., 0.]]).view(2, 3, 1, 1))
    hand = CourseModel("hand", net, {"conv": net[0], "relu": net[1]}, torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1), [])
    x01 = torch.zeros(1, 3, 8, 8)
    x01[:, 1] = 0.5
    x01[0, 0, 3, 4] = 1.0
    assert strongest_channel(hand, x01, "relu") == 0


def test_occlusion_of_the_strongest_feature_map_equals_the_loop(alexnet, seeded):
    x01 = torch.rand(1, 3, 80, 72)
    k = strongest_channel(alexnet, x01, "relu2_1")
    with torch.no_grad():
        a = alexnet.features(alexnet.to_input(x01), ["relu2_1"])["relu2_1"][0]          # [K, h, w]
    assert a[k].max() == a.amax()
    q = lambda I: alexnet.features(alexnet.to_input(I), ["relu2_1"])["relu2_1"][0, k].sum()
    M = occlusion_map(alexnet, x01, window=24, stride=16, baseline=0.0, layer="relu2_1")
    assert torch.allclose(M, occlusion_by_loop(q, x01, 24, 16, 0.0), rtol=1e-4, atol=1e-4)
    assert hook_count(alexnet.net) == 0


# ---- integrated gradients: against a one-point-at-a-time loop, and completeness ------------------

def test_integrated_gradients_equals_the_midpoint_sum_by_loop(alexnet, seeded):
    x01, x0, m = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64), 5
    total = torch.zeros_like(x01)
    for k in range(m):
        X = (x0 + (k + 0.5) / m * (x01 - x0)).requires_grad_(True)
        total += torch.autograd.grad(alexnet.net(alexnet.to_input(X)).softmax(dim=1)[0, 3], X)[0]
    IG = integrated_gradients(alexnet, x01, 3, steps=m, baseline=x0, batch=2)
    assert torch.allclose(IG, (x01 - x0) * total / m, rtol=1e-4, atol=1e-9)


def test_completeness_within_one_percent_and_better_with_more_steps(model, cat):
    errors = {m: completeness_error(model, cat, 285, integrated_gradients(model, cat, 285, steps=m), 0.0)["error"]
              for m in (16, 256)}
    assert errors[256] < 0.005 and errors[16] > 0.02            # measured at 43 x 64 px: 64 steps 4.9 %, 256 0.15 %
    grey = completeness_error(model, cat, 285, integrated_gradients(model, cat, 285, baseline=0.5), 0.5)   # default steps
    assert grey["error"] < 0.01 and abs(grey["difference"]) > 0.01


def test_quadrature_rules_on_a_smooth_path():
    """F = sum sin(3 X)/3: IG_i = (sin 3x_i - sin 3x'_i)/3 exactly. Gauss-Legendre with m points is exact for
    polynomials of degree 2m - 1 (8 points: 1e-11 here); the midpoint rule's error falls as 1/m^2."""
    g = torch.Generator().manual_seed(0)
    x, x0 = torch.rand(3, 5, 7, generator=g, dtype=torch.float64), 2 * torch.rand(3, 5, 7, generator=g, dtype=torch.float64)
    F = lambda X: (torch.sin(3 * X) / 3).flatten(1).sum(dim=1)
    exact = (torch.sin(3 * x) - torch.sin(3 * x0)) / 3
    error = {(rule, m): (path_integral(F, x, x0, m, 3, rule) - exact).abs().max().item()
             for rule in ("midpoint", "gauss") for m in (8, 16)}
    assert error["gauss", 8] < 1e-9 < 1e-4 < error["midpoint", 16]                    # measured 7e-12 and 1.7e-3
    assert 3.5 < error["midpoint", 8] / error["midpoint", 16] < 4.5                   # measured 4.03
    for rule in ("midpoint", "gauss"):
        a, w = quadrature(rule, 5)
        assert abs(w.sum() - 1) < 1e-12 and 0 < a.min() and a.max() < 1
    with pytest.raises(ValueError, match="unknown rule 'simpson'"):
        quadrature("simpson", 5)


def test_gauss_legendre_and_midpoint_agree_at_many_steps_and_differ_at_few(model, cat):
    relative = lambda P, Q: ((P - Q).norm() / Q.norm()).item()
    midpoint = integrated_gradients(model, cat, 285, steps=128)
    gauss = integrated_gradients(model, cat, 285, steps=128, rule="gauss")
    assert relative(gauss, midpoint) < 0.05                       # measured at 43 x 64 px: 0.016 (0.04-0.06 at 32 steps)
    few = [integrated_gradients(model, cat, 285, steps=2, rule=rule) for rule in ("midpoint", "gauss")]
    assert relative(*few) > 0.1                                   # two different rules: different points
    slow = integrated_gradients(model, cat, 285, steps=2, rule="gauss", fast=False)   # on the net as it is
    assert torch.allclose(few[1], slow, atol=1e-3 * slow.abs().max().item())
    with pytest.raises(ValueError, match="unknown rule 'simpson'"):
        integrated_gradients(model, cat, 285, steps=2, rule="simpson")


# ---- every network, every image form; readable errors; nothing left behind ------------------------

def test_image_forms_agree(model):
    picture = sample_image("chelsea", 64)
    by_name = grad_cam(model, "chelsea", 285, size=64)
    assert torch.equal(by_name, grad_cam(model, picture, 285, size=64))
    assert torch.equal(by_name, grad_cam(model, image_tensor(picture), 285))


def test_vgg16_random_weights_run_every_map(seeded):
    vgg = load_model("vgg16", device="cpu", pretrained=False)
    x01 = torch.rand(1, 3, 48, 48)
    assert grad_cam(vgg, x01, 1).shape == (48, 48)
    assert guided_grad_cam(vgg, x01, 1, layer="relu4_3").shape == x01.shape
    assert occlusion_map(vgg, x01, 1, window=24, stride=24).shape == (48, 48)
    assert integrated_gradients(vgg, x01, 1, steps=2).shape == x01.shape
    assert hook_count(vgg.net) == 0


def test_readable_errors_and_the_model_left_as_it_was(model, cat):
    x = model.to_input(cat)
    with torch.no_grad():
        before = model.net(x)
    calls = [lambda **k: grad_cam(model, cat, **k), lambda **k: guided_grad_cam(model, cat, **k),
             lambda **k: occlusion_map(model, cat, window=16, **k), lambda **k: integrated_gradients(model, cat, steps=2, **k)]
    for call in calls:
        with pytest.raises(UnknownNameError, match="out of range 0..999"):
            call(target=1000)
        with pytest.raises(UnknownNameError, match="valid class"):
            call(target="no such class")
    for call in calls[:2]:
        with pytest.raises(UnknownNameError, match="valid layers"):
            call(target=1, layer="block99")
        with pytest.raises(ValueError, match="not feature maps"):
            call(target=1, layer="logits")                 # raised inside the hooks' block
    with pytest.raises(UnknownNameError, match="valid layers"):
        occlusion_map(model, cat, layer="block99")
    with pytest.raises(ValueError, match="larger than the image"):
        occlusion_map(model, cat, 1, window=50)
    with pytest.raises(ValueError, match="never be covered"):
        occlusion_map(model, cat, 1, window=8, stride=9)
    with pytest.raises(ValueError, match="needs a target"):
        occlusion_map(model, cat)
    with pytest.raises(ValueError, match="channel 999 is out of range"):
        occlusion_map(model, cat, layer="block3", channel=999, window=16)
    with pytest.raises(ImageError, match="grey level"):
        integrated_gradients(model, cat, 1, steps=2, baseline=2)
    with pytest.raises(ImageError, match="baseline image must have the image's size"):
        integrated_gradients(model, cat, 1, steps=2, baseline=torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="steps must be"):
        integrated_gradients(model, cat, 1, steps=0)
    with pytest.raises(ImageError, match=r"values in \[0, 1\]"):
        grad_cam(model, x * 3, 1)                          # a network input is not an image
    with pytest.raises(TypeError, match="needs a course model"):
        grad_cam(model.net, cat, 1)
    assert hook_count(model.net) == 0 and all(p.grad is None for p in model.net.parameters())
    assert not model.net.training and all(not p.requires_grad for p in model.net.parameters())
    with torch.no_grad():
        assert torch.equal(model.net(x), before)


def test_image_and_baseline_arguments():
    from course_lib.samples import baseline_tensor, side_by_side
    scene = side_by_side("chelsea", "coffee", height=100)          # 451 x 300 and 600 x 400, each to 100 px high
    assert scene.size == (150 + 150, 100)
    x01 = image_tensor(scene)
    assert torch.equal(x01[..., :150], image_tensor(sample_image("chelsea").resize((150, 100), 1)))  # 1: LANCZOS
    assert torch.equal(baseline_tensor(0.25, x01), torch.full_like(x01, 0.25))
    other = torch.rand(1, 3, 100, 300)
    assert torch.equal(baseline_tensor(other, x01), other) and torch.equal(baseline_tensor(torch.tensor(0.0), x01), 0 * x01)
    with pytest.raises(ImageError, match=r"one float image \[1, 3, H, W\]"):
        image_tensor(torch.rand(2, 3, 8, 8))
