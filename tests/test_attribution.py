"""course_lib.attribution: the one backward pass of saliency and deconvnet (their own tests check the maps)."""
import pytest
import torch
import torch.nn as nn

from course_lib import attribution
from course_lib.hooks import hook_count


def tiny_net():
    """x [1, 3, 1, 1] -> h = ReLU(conv 1x1) [1, 2, 1, 1] -> y = h_0 - h_1: small enough to do by hand."""
    conv = nn.Conv2d(3, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[1.0, 2.0, 0.0], [0.0, -1.0, 1.0]]).view(2, 3, 1, 1))
    return nn.Sequential(conv, nn.ReLU(), nn.Conv2d(2, 1, 1, bias=False)).train()


@pytest.mark.parametrize("method, expected", [
    ("gradient", [1.0, 2.0, 0.0]),       # h_1 = ReLU(-2 + 1) is off: only h_0's path, weight +1
    ("deconvnet", [1.0, 2.0, 0.0]),      # R at h = max((+1, -1), 0) = (1, 0)
    ("guided", [1.0, 2.0, 0.0]),
])
def test_attribute_by_hand(method, expected):
    net = tiny_net()
    with torch.no_grad():
        net[2].weight.copy_(torch.tensor([1.0, -1.0]).view(1, 2, 1, 1))
    x = torch.tensor([1.0, 2.0, 1.0]).view(1, 3, 1, 1)                  # h = ReLU(5, -1) = (5, 0)
    R = attribution.attribute(net, x, lambda X: (net(X), torch.ones(len(X), 1, 1, 1)), method)
    assert R.flatten().tolist() == expected
    x_on = torch.tensor([0.0, -1.0, 3.0]).view(1, 3, 1, 1)              # h = ReLU(-2, 4) = (0, 4): only h_1, seed -1
    R_on = {m: attribution.attribute(net, x_on, lambda X: (net(X), torch.ones(len(X), 1, 1, 1)), m).flatten().tolist()
            for m in attribution.METHODS}
    assert R_on["gradient"] == [0.0, 1.0, -1.0]                          # -1 * (0, -1, 1)
    assert R_on["deconvnet"] == [1.0, 2.0, 0.0]     # max((1, -1), 0) = (1, 0), the off h_0 not masked: W^T (1, 0)
    assert R_on["guided"] == [0.0, 0.0, 0.0]        # (1, 0) masked by (h > 0) = (0, 1)
    assert net.training and hook_count(net) == 0 and all(p.grad is None for p in net.parameters())


def test_the_model_is_restored_when_the_output_raises():
    net = tiny_net()

    def broken(X):
        raise RuntimeError("broken output")

    with pytest.raises(RuntimeError, match="broken output"):
        attribution.attribute(net, torch.rand(1, 3, 4, 4), broken, "guided")
    assert net.training and hook_count(net) == 0
