import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from course_lib.hooks import hook_count  # noqa: E402
from course_lib.hubel_wiesel import (  # noqa: E402
    HubelWieselConfig, HubelWieselExperiment, angles, oriented_bar, oriented_grating,
    orientation_selectivity_index, position_invariance, unit_responses,
)
from course_lib.models import CourseModel, UnknownNameError  # noqa: E402

SMALL = HubelWieselConfig(size=33, n_angles=12, n_positions=5, position_range=2.0, profile_range=10.0, bar_width=3.0)


def edge_cells() -> CourseModel:
    """A one-layer 'cortex': channel 0 detects horizontal bars, channel 1 vertical ones (5x5 filters)."""
    conv = nn.Conv2d(3, 2, 5, padding=2, bias=False)
    bar = torch.full((5, 5), -1.5)
    bar[1:4] = 1.0                                             # a 3-px horizontal bar, inhibitory flanks, zero sum
    with torch.no_grad():
        conv.weight.copy_(torch.stack([bar, bar.T])[:, None].expand(2, 3, 5, 5) / 3)
    net = nn.Sequential(conv, nn.ReLU()).eval()
    zero, one = torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1)
    return CourseModel("edge_cells", net, {"simple": net[1]}, zero, one, ["horizontal", "vertical"])


def test_grating_orientation_range_and_period():
    g = oriented_grating(32, 0, frequency=4)
    assert g.shape == (3, 32, 32) and g.min() >= 0 and g.max() <= 1
    assert torch.allclose(g[:, :, :1].expand_as(g), g)       # 0°: horizontal stripes, rows constant
    torch.testing.assert_close(g[:, :-8], g[:, 8:])           # 4 cycles per 32 px: period 8 rows
    v = oriented_grating(32, 90, frequency=4, phase=1.0)
    assert torch.allclose(v[:, :1].expand_as(v), v, atol=1e-6)  # 90°: vertical stripes, columns constant


def test_bar_position_and_width():
    b = oriented_bar(33, 0, position=0, width=3)
    assert b.shape == (3, 33, 33) and b.min() >= 0 and b.max() <= 1
    assert torch.nonzero(b[0, :, 0] > 0.99).flatten().tolist() == [15, 16, 17]
    up = oriented_bar(33, 0, position=5, width=3)             # positions count upwards from the centre
    assert torch.nonzero(up[0, :, 0] > 0.99).flatten().tolist() == [10, 11, 12]
    vertical = oriented_bar(33, 90, position=0, width=3)
    assert torch.equal(vertical[0], b[0].T)
    with pytest.raises(ValueError, match="width"):
        oriented_bar(33, 0, width=0)


def test_osi_literal_values_and_batch_shape():
    tuning = torch.tensor([4.0, 0.0, 1.0, 0.0])              # angles 0, 45, 90, 135
    assert orientation_selectivity_index(tuning).item() == pytest.approx(3 / 5)
    wrap = torch.tensor([0.0, 2.0, 0.0, 6.0])                 # preferred 135°, orthogonal 45°
    assert orientation_selectivity_index(wrap).item() == pytest.approx(4 / 8)
    flat = torch.ones(2, 3, 6)
    assert orientation_selectivity_index(flat).shape == (2, 3)
    assert torch.allclose(orientation_selectivity_index(flat), torch.zeros(2, 3))
    assert angles(4).tolist() == [0, 45, 90, 135]


def test_edge_cells_prefer_their_orientation_and_are_simple():
    experiment = HubelWieselExperiment(edge_cells(), SMALL)
    tuning = experiment.tuning("simple")                      # [2, 12]
    assert tuning.shape == (2, 12)
    assert experiment.angles[tuning[0].argmax()].item() == 0
    assert experiment.angles[tuning[1].argmax()].item() == 90
    assert (orientation_selectivity_index(tuning) > 0.9).all()
    ranked = experiment.ranking("simple", k=2)
    assert sorted((c, pref) for c, _, pref in ranked) == [(0, 0.0), (1, 90.0)]
    positions, R = experiment.profile("simple", 0, 0.0, n=21)
    assert R[10] == R.max() and R[0] == 0 and R[-1] == 0       # fires only when the bar is on its centre
    assert position_invariance(R) < 0.3
    assert position_invariance(torch.ones(5)) == 1.0 and position_invariance(torch.zeros(5)) == 0.0


def test_blank_screen_gives_zero_response():
    R = unit_responses(edge_cells(), torch.zeros(2, 3, 33, 33), "simple")
    assert torch.equal(R, torch.zeros(2, 2))


def test_efficientnet_sweep_shapes_and_no_hooks_left(model):
    cfg = HubelWieselConfig(size=48, n_angles=6, n_positions=2)
    experiment = HubelWieselExperiment(model, cfg)
    assert experiment.sweep("stem").shape == (6, 2, 32)
    c, _, pref = experiment.ranking("stem", k=1)[0]          # a unit that responds to bars
    freq = experiment.frequency_tuning("stem", c, [2, 4, 8], n_phases=4)
    on_grey = lambda g: cfg.background + cfg.contrast * (g - 0.5)   # the grating at the experiment's contrast
    by_hand = [max(unit_responses(model, on_grey(oriented_grating(48, pref, f, k * math.pi / 2))[None], "stem",
                                  background=cfg.background)[0, c].item()
                   for k in range(4)) for f in (2, 4, 8)]     # the best over 4 phases, one grating at a time
    assert freq.shape == (3,) and freq.tolist() == pytest.approx(by_hand, abs=1e-5)
    assert len(set(by_hand)) == 3 and max(by_hand) > 0      # distinct, non-zero: the check can tell a mix-up
    fig = experiment.show("stem", 3, angle=30, position=1.0)
    plt.close(fig)
    assert hook_count(model.net) == 0


def test_bad_layer_or_channel_is_a_readable_error(model):
    experiment = HubelWieselExperiment(model, HubelWieselConfig(size=48, n_angles=4, n_positions=2))
    with pytest.raises(UnknownNameError, match="valid layers"):
        experiment.sweep("conv99")
    with pytest.raises(ValueError, match="channel 32 is out of range.*0..31"):
        experiment.show("stem", 32, 0, 0)
    with pytest.raises(ValueError, match=r"\[N, 3, S, S\]"):
        unit_responses(model, torch.zeros(3, 48, 48), "stem")
    assert hook_count(model.net) == 0


def test_trained_net_goes_from_simple_to_complex(model):
    """The notebook's claim: the stem's best units are position-specific, block6's more invariant."""
    experiment = HubelWieselExperiment(model, HubelWieselConfig(size=64, n_angles=12, n_positions=4, profile_range=16.0))
    invariance = {}
    for layer in ("stem", "block6"):
        units = experiment.ranking(layer, k=2)
        profiles = [experiment.profile(layer, c, pref, n=25)[1] for c, _, pref in units]
        invariance[layer] = sum(map(position_invariance, profiles)) / len(profiles)
    assert invariance["stem"] < 0.15 < invariance["block6"]


def test_tuning_is_the_best_response_over_positions():
    experiment = HubelWieselExperiment(edge_cells(), SMALL)
    sweep = torch.tensor([[[1.0], [5.0], [0.0]], [[2.0], [2.0], [2.0]]])  # [2 angles, 3 positions, 1 channel]
    experiment._sweeps["simple"] = sweep
    assert experiment.tuning("simple").tolist() == [[5.0, 2.0]]          # the max over positions, not the mean


@pytest.mark.parametrize("n", [3, 5, 7, 9])
def test_osi_odd_angle_count_takes_the_angle_just_under_90_degrees(n):
    tuning = torch.zeros(n)
    tuning[0], tuning[n // 2], tuning[(n + 1) // 2] = 4.0, 1.0, 0.0     # the two angles nearest 90°: 90 -+ 90/n
    assert angles(n)[n // 2] < 90 < angles(n)[(n + 1) // 2]
    assert orientation_selectivity_index(tuning).item() == pytest.approx(3 / 5)   # R_orth at n // 2 steps
    assert orientation_selectivity_index(tuning.roll(2)).item() == pytest.approx(3 / 5)   # wherever the preferred angle is


def saturating_cells() -> CourseModel:
    """Two hand-made ReLU6 units seeing the same horizontal bar detector on a grey screen:
    unit 0 with a gain of 20, unit 1 with a gain of 2. Both rest at 3 on the blank (the bias); a centred bar of
    contrast c covers 15 weights of 1 and adds gain * 15 * c: at c = 3 %, 9 for unit 0 (past the ceiling of 6)
    and 0.9 for unit 1 (linear); at 0.5 % unit 0 adds 1.5 and stays linear too."""
    conv = nn.Conv2d(3, 2, 5, padding=2)
    bar = torch.full((5, 5), -1.5)
    bar[1:4] = 1.0                                             # zero sum: the grey screen gives the bias alone
    with torch.no_grad():
        conv.weight.copy_(torch.stack([20 * bar, 2 * bar])[:, None].expand(2, 3, 5, 5) / 3)
        conv.bias.fill_(3.0)
    net = nn.Sequential(conv, nn.ReLU6()).eval()
    zero, one = torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1)
    return CourseModel("saturating_cells", net, {"simple": net[1]}, zero, one, ["loud", "quiet"])


def test_saturated_unit_is_named_and_left_out_of_the_ranking():
    """Issue 29: a ReLU6 clipped at 6 answers several angles alike; its OSI means nothing."""
    experiment = HubelWieselExperiment(saturating_cells(), HubelWieselConfig(
        size=33, n_angles=12, n_positions=5, position_range=2.0, contrast=0.03))
    assert experiment.saturated("simple") == [0]
    assert [c for c, _, _ in experiment.ranking("simple", k=2)] == [1]          # the honest unit alone
    tuning = experiment.tuning("simple")                                         # [2, 12]
    assert tuning[0].max() == pytest.approx(3.0)                                 # 6 - 3: the ceiling, not the drive
    assert (tuning[0] == tuning[0].max()).sum() >= 2                             # clipped: several angles tie at the top
    assert (tuning[1] == tuning[1].max()).sum() == 1 and tuning[1].max() == pytest.approx(0.9, rel=1e-4)
    assert experiment.angles[tuning[1].argmax()].item() == 0.0                  # the honest unit: one peak, its angle


def test_clipped_units_by_contrast():
    """Fewer units clip as the contrast falls; at the default contrast none of the hand-made units does."""
    experiment = HubelWieselExperiment(saturating_cells(), HubelWieselConfig(size=33, n_angles=6, n_positions=3))
    clipped = experiment.clipped_by_contrast("simple", [1.0, 0.03, 0.005])
    assert clipped == {1.0: [0, 1], 0.03: [0], 0.005: []}
    assert experiment.clipped_by_contrast("simple", [experiment.cfg.contrast]) == {experiment.cfg.contrast: [0]}
    unbounded = HubelWieselExperiment(edge_cells(), HubelWieselConfig(size=33, n_angles=6, n_positions=3))
    assert unbounded.clipped_by_contrast("simple", [1.0]) == {1.0: []}       # a plain ReLU has no ceiling