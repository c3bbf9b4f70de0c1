import pytest
import torch
import torch.nn as nn

from course_lib import load_model
from course_lib.hooks import RELU_BACKWARD_RULES, capture, functional_relus, hook_count, relu_backward_rule


@pytest.fixture(scope="module")
def vgg():
    torch.manual_seed(0)
    return load_model("vgg16", pretrained=False)  # torchvision builds it with in-place ReLUs


def tiny_net():
    """x -> ReLU(w*x) -> sum, weights chosen by hand."""
    net = nn.Sequential(nn.Linear(3, 3, bias=False), nn.ReLU(inplace=True), nn.Linear(3, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(3))
        net[2].weight.copy_(torch.tensor([[1.0, -1.0, 2.0]]))
    return net


@pytest.mark.parametrize("rule, expected", [
    # forward input of the ReLU: (1, 2, -3); gradient arriving from above: (1, -1, 2)
    ("gradient", [1.0, -1.0, 0.0]),   # g where x > 0
    ("deconvnet", [1.0, 0.0, 2.0]),   # ReLU(g), whatever x was
    ("guided", [1.0, 0.0, 0.0]),      # both masks
])
def test_rules_on_a_hand_checkable_net(rule, expected):
    net = tiny_net()
    x = torch.tensor([[1.0, 2.0, -3.0]], requires_grad=True)
    with relu_backward_rule(net, rule):
        y = net(x)
    assert y.item() == pytest.approx(1 * 1 - 1 * 2)  # forward unchanged
    y.backward()
    assert x.grad[0].tolist() == expected


def test_gradient_rule_equals_autograd_with_inplace_relus(vgg):
    x = torch.randn(1, 3, 48, 48, requires_grad=True)
    (reference,) = torch.autograd.grad(vgg.net(x)[0, 7], x)
    with relu_backward_rule(vgg.net, "gradient"):
        (ruled,) = torch.autograd.grad(vgg.net(x)[0, 7], x)
    torch.testing.assert_close(ruled, reference, rtol=0, atol=0)
    with relu_backward_rule(vgg.net, "guided"):
        (guided,) = torch.autograd.grad(vgg.net(x)[0, 7], x)
    assert not torch.allclose(guided, reference)


def test_relu6_upper_bound_blocks_the_gradient():
    net = nn.Sequential(nn.ReLU6())
    x = torch.tensor([-1.0, 3.0, 7.0], requires_grad=True)
    with relu_backward_rule(net, "gradient"):
        net(x).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 0.0]


def test_capture_sees_the_conv_output_before_an_inplace_relu(vgg):
    x = torch.randn(1, 3, 32, 32)
    with capture({"conv1_1": vgg.layer("conv1_1"), "relu1_1": vgg.layer("relu1_1")}) as out:
        vgg.net(x)
    assert out["conv1_1"].min() < 0  # not overwritten by the ReLU that follows
    assert torch.equal(out["relu1_1"], out["conv1_1"].clamp(min=0))


def test_no_hook_remains_and_outputs_are_bit_identical(vgg):
    x = torch.randn(1, 3, 40, 40)
    before = vgg.net(x)
    with capture({"pool1": vgg.layer("pool1")}):
        vgg.net(x)
    with relu_backward_rule(vgg.net, "deconvnet"):
        vgg.net(x.requires_grad_(True))[0, 0].backward()
    vgg.features(x.detach(), ["relu3_1", "conv1_1"])
    assert hook_count(vgg.net) == 0
    assert torch.equal(vgg.net(x.detach()), before)


@pytest.mark.parametrize("context", ["capture", "rule", "features"])
def test_hooks_are_removed_after_an_exception(vgg, context):
    x = torch.randn(1, 3, 40, 40)
    before = vgg.net(x)
    with pytest.raises(RuntimeError, match="boom|4D"):
        if context == "capture":
            with capture({"relu1_1": vgg.layer("relu1_1")}):
                vgg.net(x)
                raise RuntimeError("boom")
        elif context == "rule":
            with relu_backward_rule(vgg.net, "guided"):
                vgg.net(x)
                raise RuntimeError("boom")
        else:
            vgg.features(torch.zeros(1, 3, 40, 40, 2), ["relu2_1"])  # 5-D input: conv raises inside
    assert hook_count(vgg.net) == 0
    assert torch.equal(vgg.net(x), before)


def test_unknown_rule_lists_the_valid_ones(vgg):
    with pytest.raises(ValueError, match="deconvnet"):
        with relu_backward_rule(vgg.net, "smooth"):
            pass
    assert set(RELU_BACKWARD_RULES) == {"gradient", "deconvnet", "guided"}


def test_functional_relus_are_detected():
    torch.manual_seed(0)
    googlenet = load_model("googlenet", pretrained=False)  # its BasicConv2d calls F.relu
    assert len(functional_relus(googlenet.net, torch.randn(1, 3, 64, 64))) > 10
    assert hook_count(googlenet.net) == 0
    assert functional_relus(tiny_net(), torch.randn(1, 3)) == []
    bundled = load_model()
    assert functional_relus(bundled.net, torch.randn(1, 3, 64, 64)) == []
