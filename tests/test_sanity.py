"""Cascading randomisation (Adebayo et al. 2018): on a copy, model untouched, the paper's finding."""
import pytest
import torch

from course_lib import sample_image
from course_lib import sanity
from course_lib.hooks import hook_count


def test_rank_correlation_is_spearman():
    a = torch.tensor([1., 2., 3., 4.]).view(1, 1, 1, 4).expand(1, 3, 1, 4)
    assert sanity.rank_correlation(a, a ** 3) == pytest.approx(1.0)          # monotone: rho = 1
    assert sanity.rank_correlation(a, 5 - a) == pytest.approx(-1.0)
    assert sanity.rank_correlation(a, torch.tensor([2., 4., 1., 3.]).view(1, 1, 1, 4)) == pytest.approx(0.0)


def test_weight_groups_cover_every_weight_once(model):
    groups = sanity.weight_groups(model, model.net)
    assert list(groups)[:3] == ["logits", "head", "block15"] and list(groups)[-1] == "stem"
    assert [type(m).__name__ for m in groups["stem"]] == ["Conv2dSame", "BatchNorm2d"]
    ids = [id(p) for modules in groups.values() for m in modules for p in m.parameters(recurse=False)]
    assert sorted(ids) == sorted(id(p) for p in model.net.parameters())


def test_cascade_changes_the_gradient_not_guided_backprop_and_leaves_the_model(model):
    x = model.preprocess(sample_image("chelsea", 96))
    with torch.no_grad():
        before = model.net(x)
    state = {k: v.clone() for k, v in model.net.state_dict().items()}
    result = sanity.cascading_randomisation(model, x, "Egyptian cat", steps=["logits", "block15"])
    rho = result["rho"]
    assert result["steps"] == ["logits", "block15"] and len(result["maps"]["guided"]) == 3
    # the paper's finding: random top layers decorrelate the gradient, guided backprop hardly changes
    # (measured at 96 px: gradient 0.4 / guided 1.0 after the logits)
    assert max(rho["gradient"]) < 0.7 and min(rho["guided"]) > 0.9
    with torch.no_grad():
        assert torch.equal(model.net(x), before)
    assert all(torch.equal(v, state[k]) for k, v in model.net.state_dict().items())
    assert hook_count(model.net) == 0


def test_cascade_bad_arguments(model):
    x = torch.randn(1, 3, 32, 32)
    with pytest.raises(ValueError, match="not a layer with weights"):
        sanity.cascading_randomisation(model, x, 1, steps=["block99"])
    with pytest.raises(ValueError, match="from the top down"):
        sanity.cascading_randomisation(model, x, 1, steps=["stem", "logits"])
    with pytest.raises(TypeError, match="CourseModel"):
        sanity.cascading_randomisation(model.net, x, 1)
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        sanity.cascading_randomisation(model, x[0], 1)
    assert hook_count(model.net) == 0
