"""inference_model: the folded, channels-last copy computes the network's function (outputs, feature maps,
input gradients), leaves the user's network exactly as it was (also when the network raises), follows the
network when it changes, and refuses to fold where folding would change the function."""
import pytest
import torch
import torch.nn as nn

from course_lib import load_model
from course_lib.course_model import CourseModel
from course_lib.hooks import hook_count
from course_lib.inference_net import inference_model
from course_lib.samples import image_tensor


def hand_model(net, layers=None):
    return CourseModel("hand", net, layers or {}, torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1), [str(i) for i in range(4)])


def test_the_folded_net_computes_the_networks_function(model, seeded):
    fast = inference_model(model)
    assert fast.net is not model.net and fast.layer_names == model.layer_names
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.net.modules())
    assert fast.net._blocks[3]._depthwise_conv.weight.is_contiguous(memory_format=torch.channels_last)
    x01 = torch.cat([image_tensor("chelsea", 56), torch.rand(1, 3, 37, 56)])           # [2, 3, 37, 56]
    I = model.to_input(x01)
    with torch.no_grad():
        S, S_fast = model.net(I), fast.net(I)
        assert torch.allclose(S_fast, S, rtol=1e-4, atol=1e-4 * S.abs().max().item())
        for layer in ("stem", "block3", "head"):
            A, A_fast = model.features(I, layer)[layer], fast.features(I, layer)[layer]
            assert torch.allclose(A_fast, A, atol=1e-4 * A.abs().max().item())
    X = I.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model.net(X)[:, 285].sum(), X)
    (g_fast,) = torch.autograd.grad(fast.net(X)[:, 285].sum(), X)
    assert torch.allclose(g_fast, g, atol=1e-4 * g.abs().max().item())


def test_googlenets_basic_convs_fold_and_nets_without_batchnorm_are_used_as_they_are(seeded):
    googlenet = load_model("googlenet", device="cpu", pretrained=False)
    fast = inference_model(googlenet)
    assert fast.net is not googlenet.net and not any(isinstance(m, nn.BatchNorm2d) for m in fast.net.modules())
    I = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        S = googlenet.net(I)
        assert torch.allclose(fast.net(I), S, rtol=1e-4, atol=1e-4 * S.abs().max().item())
    alexnet = load_model("alexnet", device="cpu", pretrained=False)
    assert inference_model(alexnet) is alexnet


def test_the_users_network_is_left_as_it_was():
    mine = load_model(device="cpu")
    mine.net.train()                                   # even a net left in training mode: BatchNorm must not update
    before = {k: v.clone() for k, v in mine.net.state_dict().items()}
    modules = [(name, id(m)) for name, m in mine.net.named_modules()]
    inference_model(mine)
    after = mine.net.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())
    assert [(name, id(m)) for name, m in mine.net.named_modules()] == modules
    assert all(m.training for m in mine.net.modules()) and hook_count(mine.net) == 0
    assert all(not p.requires_grad for p in mine.net.parameters())


class Fails(nn.Module):
    def forward(self, x):
        raise RuntimeError("a forward pass that fails")


def test_hooks_removed_and_modes_restored_when_the_network_raises():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), Fails()).train()
    with pytest.raises(RuntimeError, match="fails"):
        inference_model(hand_model(net))
    assert hook_count(net) == 0 and all(m.training for m in net.modules())


def test_the_copy_follows_the_network_and_steps_aside_for_hooks():
    mine = load_model(device="cpu")
    x = mine.to_input(torch.rand(1, 3, 40, 40))
    fast = inference_model(mine)
    assert inference_model(mine) is fast                             # cached
    with torch.no_grad():
        mine.net._blocks[2]._bn1.running_mean += 0.5                  # edited in place, as randomisation does
        S = mine.net(x)
        S_fast = inference_model(mine).net(x)
    assert inference_model(mine) is not fast and torch.allclose(S_fast, S, rtol=1e-4, atol=1e-4 * S.abs().max().item())
    handle = mine.net._blocks[0].register_forward_hook(lambda m, args, out: out * 0)
    try:
        assert inference_model(mine) is mine                         # the copy would not run the user's hook
    finally:
        handle.remove()


class ReadTwice(nn.Module):
    """The convolution's output goes to the BatchNorm and around it: folding would change the function."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.conv(x)
        return (self.bn(y) + y).mean(dim=(2, 3))


def test_no_fold_where_it_would_change_the_function(seeded):
    net = ReadTwice().eval()
    with torch.no_grad():
        net.bn.running_mean.uniform_(-1, 1), net.bn.running_var.uniform_(0.5, 2), net.bn.weight.uniform_(0.5, 2)
    assert inference_model(hand_model(net)).net is net
    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4)).eval()
    with torch.no_grad():
        plain[1].running_mean.uniform_(-1, 1), plain[4].running_mean.uniform_(-1, 1)
    watched = hand_model(plain, {"conv": plain[0], "relu": plain[2]})   # a layer the user watches keeps its output
    fast = inference_model(watched)
    assert isinstance(fast.net[1], nn.BatchNorm2d) and isinstance(fast.net[4], nn.Identity)
    x = torch.rand(1, 3, 12, 12)
    assert torch.allclose(fast.features(x, "conv")["conv"], watched.features(x, "conv")["conv"], atol=1e-5)   # layout rounding
