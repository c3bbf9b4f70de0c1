"""Tests for course_lib.style_checks: image statistics that judge a style transfer without its network."""
import pytest
import torch

from course_lib import style_checks as sc


def test_colour_outliers_by_hand():
    grey = torch.full((1, 3, 8, 8), 0.5)
    magenta = torch.tensor([1.0, 0.0, 1.0]).view(1, 3, 1, 1).expand(1, 3, 8, 8)
    assert sc.colour_outliers(grey, grey, grey) == 0.0
    assert sc.colour_outliers(magenta, grey, grey) == 1.0
    half = torch.cat([grey[..., :4], magenta[..., 4:]], dim=-1)  # half the pixels magenta
    assert sc.colour_outliers(half, grey, [grey, grey]) == 0.5
    assert sc.colour_outliers(half, grey, magenta) == 0.0         # the style brings magenta
    near = grey + 0.04                                            # within one colour cell of grey
    assert sc.colour_outliers(near, grey, grey) == 0.0


def test_edge_band_finds_a_noisy_top_row(seeded):
    x = torch.full((1, 3, 40, 40), 0.5) + 0.05 * torch.rand(1, 3, 40, 40, generator=seeded)
    assert 0.5 < sc.edge_band(x) < 2
    x[..., :2, :] = torch.rand(1, 3, 2, 40, generator=seeded)
    assert sc.edge_band(x) > 10 and sc.edge_band(x, side="bottom") < 2
    assert sc.edge_band(x.transpose(2, 3), side="left") > 10


def test_high_frequency_checkerboard_against_a_ramp():
    ramp = torch.linspace(0, 1, 32).view(1, 1, 1, 32).expand(1, 3, 32, 32)
    checker = ((torch.arange(32).view(-1, 1) + torch.arange(32).view(1, -1)) % 2).float().expand(1, 3, 32, 32)
    assert sc.high_frequency(ramp) < 0.01
    assert sc.high_frequency(checker) > 0.9


def test_layout_similarity(seeded):
    x = torch.rand(1, 3, 16, 12, generator=seeded)
    x = torch.nn.functional.interpolate(x, scale_factor=4)  # [1, 3, 64, 48]: structure the 32 px statistic sees
    assert sc.layout_similarity(x, x) == pytest.approx(1.0, abs=1e-5)
    assert sc.layout_similarity(x, x.flip(-1)) < 0.5
    assert sc.layout_similarity(0.5 * x + 0.2, x) == pytest.approx(1.0, abs=1e-5)  # contrast does not matter


def test_bad_arguments_are_readable():
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        sc.high_frequency(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="content"):
        sc.layout_similarity(torch.rand(1, 3, 8, 8), "chelsea")
    with pytest.raises(ValueError, match="side"):
        sc.edge_band(torch.rand(1, 3, 40, 40), side="middle")
    with pytest.raises(ValueError, match="too small"):
        sc.edge_band(torch.rand(1, 3, 8, 8))
