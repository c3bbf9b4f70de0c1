"""Which map is right: the one switch, the deletion/insertion curves (against masks built by hand), the
area, the energy in the box, Spearman's rho (against scipy), the sanity rows; nothing left behind."""
import pytest
import torch
from scipy.stats import spearmanr

from course_lib import UnknownNameError
from course_lib import which_map as wm
from course_lib.grad_cam import grad_cam
from course_lib.hooks import hook_count
from course_lib.samples import image_tensor
from course_lib.integrated_gradients import integrated_gradients

TINY = wm.CompareConfig(size=48, points=5, occlusion={"window": 16, "stride": 16}, ig_steps=4, smoothgrad_samples=2)


def test_curve_images_change_the_most_relevant_pixels_first():
    x01 = torch.rand(1, 3, 4, 5)
    R = torch.randn(4, 5)
    config = wm.CompareConfig(points=5, deletion_grey=0.25)
    deleted = wm.curve_images(x01, R, "deletion", config)                        # [5, 3, 4, 5]
    order = R.flatten().argsort(descending=True)
    for k, n in enumerate([0, 5, 10, 15, 20]):                                   # 20 pixels in 4 steps
        mask = torch.zeros(20)
        mask[order[:n]] = 1
        expected = torch.where(mask.view(1, 4, 5).bool(), torch.tensor(0.25), x01[0])
        assert torch.equal(deleted[k], expected)
    inserted = wm.curve_images(x01, R, "insertion", config)
    assert torch.equal(inserted[-1], x01[0]) and not torch.allclose(inserted[0], x01[0])
    assert torch.equal(inserted[2].flatten(1)[:, order[:10]], x01[0].flatten(1)[:, order[:10]])


def test_area_energy_and_rank_correlation():
    assert wm.area(torch.tensor([1.0, 0.5, 0.0])) == pytest.approx(0.5)
    assert wm.area(torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0])) == pytest.approx(0.75)
    R = torch.zeros(10, 10)
    R[0:5, 0:5], R[9, 9] = 1.0, -7.0                                              # 25 inside, the negative is ignored
    R[5, 5] = 25.0
    assert wm.energy_in_box(R, (0, 0, 0.5, 0.5)) == pytest.approx(0.5)
    a, b = torch.randn(6, 7), torch.randn(6, 7)
    b[:3] = 0                                                                     # ties: mean ranks, as scipy
    assert wm.rank_correlation(a, b) == pytest.approx(spearmanr(a.flatten(), b.flatten())[0], abs=1e-9)
    assert wm.rank_correlation(a, torch.zeros(6, 7)) == 0.0                      # a constant map ranks nothing


def test_the_switch_gives_each_method_s_own_map(model):
    x01 = image_tensor("chelsea", 48)
    assert torch.equal(wm.relevance(model, x01, 285, "grad_cam", TINY), grad_cam(model, x01, 285))
    IG = integrated_gradients(model, x01, 285, steps=4)
    assert torch.allclose(wm.relevance(model, x01, 285, "integrated_gradients", TINY), IG[0].sum(dim=0))
    for method in wm.METHODS:
        R = wm.relevance(model, x01, 285, method, TINY)
        assert R.shape == x01.shape[-2:] and torch.isfinite(R).all(), method
    with pytest.raises(ValueError, match="unknown method"):
        wm.relevance(model, x01, 285, "lime", TINY)
    with pytest.raises(UnknownNameError, match="out of range"):
        wm.relevance(model, x01, 5000, "gradient", TINY)
    with pytest.raises(ValueError, match="'deletion' or 'insertion'"):
        wm.curve(model, x01, 285, torch.rand(x01.shape[-2:]), "sideways", TINY)


def test_compare_rows_judge_and_sanity(model):
    x = model.to_input(image_tensor("coffee", 48))
    with torch.no_grad():
        before = model.net(x)
    result = wm.compare(model, "coffee", None, ("grad_cam", "guided"), TINY, judge=model)
    rows = {row["method"]: row for row in result["rows"]}
    assert result["box"] == wm.BOXES["coffee"]
    for row in rows.values():
        assert row["judge deletion"] == pytest.approx(row["deletion"])           # the same network judges alike
        assert 0 <= row["energy in box"] <= 1 and 0 <= row["deletion"] <= 1
    first = result["curves"]["grad_cam", "deletion"][0]
    with torch.no_grad():
        assert first == pytest.approx(model.net(x).softmax(dim=1)[0, result["class"]].item(), rel=1e-4)
    # Adebayo et al.: guided backprop hardly changes with a random classifier, Grad-CAM does
    # (measured at 48 px: guided 1.00, Grad-CAM -0.04)
    assert rows["guided"]["rho random logits"] > 0.9 and not rows["guided"]["passes sanity"]
    assert rows["grad_cam"]["rho random logits"] < 0.5
    assert "guided" in wm.table(result["rows"]) and hook_count(model.net) == 0
    with torch.no_grad():
        assert torch.equal(model.net(x), before)


def test_the_table_speaks_the_course_language(monkeypatch):
    rows = [{"method": "guided", "deletion": 0.5, "passes sanity": False},
            {"method": "integrated_gradients", "deletion": 0.25, "passes sanity": True}]
    monkeypatch.setenv("COURSE_LIB_LANG", "ru")
    text = wm.table(rows)
    assert "управляемый" in text and "интегрированные градиенты" in text and "integrated_gradients" not in text
    assert "0,250" in text and "0.250" not in text
    assert text.splitlines()[1].startswith("интегрированные градиенты")                # best deletion first
