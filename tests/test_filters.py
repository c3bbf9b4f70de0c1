import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib import load_model  # noqa: E402
from course_lib.filters import (  # noqa: E402
    activation_maps, conv_layers, conv_weight, normalise_filters, show_activation_maps,
    show_filters, show_first_layer_filters,
)
from course_lib.hooks import hook_count  # noqa: E402
from course_lib.models import UnknownNameError  # noqa: E402


@pytest.fixture(scope="module")
def alexnet():
    torch.manual_seed(0)
    return load_model("alexnet", device="cpu", pretrained=False)


def test_normalise_filters_per_filter_with_zero_grey():
    w = torch.tensor([[[[1.0, -2.0], [0.0, 0.5]]], [[[0.1, 0.0], [0.0, 0.0]]]])   # [2, 1, 2, 2]
    tiles = normalise_filters(w)
    assert tiles[0, 0].tolist() == [[0.75, 0.0], [0.5, 0.625]]
    assert tiles[1, 0].tolist() == [[1.0, 0.5], [0.5, 0.5]]                 # scaled on its own
    assert normalise_filters(torch.zeros(1, 3, 3, 3)).eq(0.5).all()          # no division by zero


def test_conv_layers_use_course_names(model, alexnet):
    names = list(conv_layers(model))
    assert names[0] == "_conv_stem" and "_blocks.0._depthwise_conv" in names and names[-1] == "_conv_head"
    assert list(conv_layers(alexnet)) == ["conv1_1", "conv2_1", "conv3_1", "conv3_2", "conv3_3"]
    assert conv_weight(model).shape == (32, 3, 3, 3)
    assert conv_weight(alexnet, "conv2_1").shape == (192, 64, 5, 5)
    with pytest.raises(UnknownNameError, match="valid convolutions"):
        conv_weight(model, "conv1_1")


@pytest.mark.parametrize("which", ["model", "alexnet"])
def test_first_layer_filters_are_rgb_tiles(which, model, alexnet):
    net = {"model": model, "alexnet": alexnet}[which]
    fig = show_first_layer_filters(net)
    n_filters = conv_weight(net).shape[0]
    assert sum(bool(ax.images) for ax in fig.axes) == n_filters
    assert fig.axes[0].images[0].get_array().shape[-1] == 3                   # colour tiles
    plt.close(fig)


def test_deeper_filters_depthwise_pointwise_and_full(model, alexnet):
    fig = show_filters(model, "_blocks.1._depthwise_conv", channels=[0, 5])
    assert len(fig.axes) == 2 and "depthwise" in fig._suptitle.get_text()
    plt.close(fig)
    fig = show_filters(model, "_blocks.1._project_conv", channels=range(4))
    assert "1x1" in fig.axes[0].get_title()
    plt.close(fig)
    fig = show_filters(alexnet, "conv2_1", channels=[1, 2], max_inputs=5)
    assert len(fig.axes) == 2 * 5
    plt.close(fig)
    with pytest.raises(ValueError, match="filter 32 is out of range.*0..31"):
        show_filters(model, "_conv_stem", channels=[32])


def test_activation_maps_top_k_by_mean(model):
    x = model.to_input(torch.rand(1, 3, 64, 64))
    maps, channels, means = activation_maps(model, x, "block2", k=5)
    F_l = model.features(x, ["block2"])["block2"][0]
    assert maps.shape == (5, *F_l.shape[1:])
    torch.testing.assert_close(means, F_l.mean(dim=(1, 2)).sort(descending=True).values[:5])
    torch.testing.assert_close(maps[0], F_l[channels[0]])
    fig = show_activation_maps(model, x, "stem", k=7)
    assert sum(bool(ax.images) for ax in fig.axes) == 8                       # the image + 7 maps
    plt.close(fig)
    with pytest.raises(ValueError, match="not maps"):
        activation_maps(model, x, "logits")
    with pytest.raises(UnknownNameError):
        activation_maps(model, x, "block99")
    assert hook_count(model.net) == 0


# ---- effective filters ----------------------------------------------------------------------

from course_lib import filters as fl  # noqa: E402
from course_lib.hubel_wiesel import HubelWieselConfig, HubelWieselExperiment, oriented_bar  # noqa: E402


def test_stem_effective_filter_is_the_scaled_3x3_weight(model):
    """Independent form: at the grey image a stem unit in ReLU6's linear range has the filter
    W_c * gamma_c / sqrt(var_c + eps) / std (BatchNorm folded, d to_input / dx = 1 / std)."""
    net = model.net
    with torch.no_grad():
        pre = net._bn0(net._conv_stem(model.to_input(torch.full((1, 3, 16, 16), 0.5))))[0, :, 4, 4]   # [32]
    active = [c for c in range(32) if 0 < pre[c] < 6][:5]
    w = fl.effective_filters(model, "stem", active, samples=1, sigma=0.0, size=16)
    assert w.shape == (len(active), 3, 16, 16)
    bn = net._bn0
    scale = (bn.weight / (bn.running_var + bn.eps).sqrt()).detach()
    expected = net._conv_stem.weight.detach()[active] * scale[active].view(-1, 1, 1, 1) / model.std.view(1, 3, 1, 1)
    cropped = fl.crop_to_field(w)
    assert cropped.shape[-1] == 3
    torch.testing.assert_close(cropped, expected, rtol=1e-4, atol=1e-6)
    assert hook_count(net) == 0


def test_reverse_correlation_agrees_with_the_mean_gradient(model):
    """Stein's lemma: E[F(g + sigma eps) eps] / sigma = E[dF/dI] for Gaussian eps (two formulations)."""
    kwargs = dict(sigma=0.2, size=12, background=0.5)
    by_gradient = fl.effective_filters(model, "block0", [0, 3], "gradient", samples=512, batch=256, **kwargs)
    by_noise = fl.effective_filters(model, "block0", [0, 3], "reverse_correlation", samples=40000, batch=4000, **kwargs)
    for g, r in zip(by_gradient, by_noise):
        assert torch.corrcoef(torch.stack([g.flatten(), r.flatten()]))[0, 1] > 0.9
    other = fl.effective_filters(model, "block0", [5], "gradient", samples=512, batch=256, **kwargs)[0]
    assert torch.corrcoef(torch.stack([other.flatten(), by_noise[0].flatten()]))[0, 1] < 0.5    # the check can fail


def test_linear_tuning_of_a_bar_filter_peaks_at_its_angle():
    experiment = HubelWieselExperiment(None, HubelWieselConfig(size=32, n_angles=12, n_positions=3))
    w = torch.stack([oriented_bar(32, 30.0, 0.0, 3.0) - 0.2, oriented_bar(32, 120.0, 0.0, 3.0) - 0.2])
    tuning = fl.linear_tuning(w, experiment)
    assert tuning.shape == (2, 12)
    assert experiment.angles[tuning.argmax(1)].tolist() == [30.0, 120.0]
    assert fl.angle_difference(torch.tensor([175.0, 10.0]), torch.tensor([5.0, 100.0])).tolist() == [10.0, 90.0]
    with pytest.raises(ValueError, match="compute the filters with size=32"):
        fl.linear_tuning(torch.zeros(1, 3, 16, 16), experiment)


def test_effective_filters_bad_arguments(model):
    for kwargs, error, message in [({"layer": "block99"}, UnknownNameError, "valid layers"),
                                   ({"method": "sta"}, ValueError, "unknown method"),
                                   ({"samples": 0}, ValueError, "samples must be"),
                                   ({"sigma": -1.0}, ValueError, "sigma must be"),
                                   ({"method": "reverse_correlation", "sigma": 0.0}, ValueError, "> 0 for reverse"),
                                   ({"size": 4}, ValueError, "size is the side"),
                                   ({"layer": "logits"}, ValueError, "not maps"),
                                   ({"channels": [99]}, ValueError, "channel 99 is out of range")]:
        args = {"layer": "block0", "channels": [0], "samples": 1, "size": 16, **kwargs}
        with pytest.raises(error, match=message):
            fl.effective_filters(model, **args)
    assert hook_count(model.net) == 0


def test_show_effective_filters(model):
    w = fl.effective_filters(model, "block1", [0, 1, 2], samples=2, size=32)
    fig = fl.show_effective_filters(model, fl.crop_to_field(w), [0, 1, 2], "block1")
    assert sum(bool(ax.images) for ax in fig.axes) == 8 + 3            # 8 raw stem tiles, 3 effective filters
    plt.close(fig)
    fig = fl.show_effective_filters(model, w, [0, 1, 2], "block1", raw=False, titles=["a", "b", "c"])
    assert sum(bool(ax.images) for ax in fig.axes) == 3 and fig.axes[1].get_title() == "b"
    plt.close(fig)


def test_effective_field_is_the_smallest_square_holding_the_energy():
    """Issue 29: filters drawn cut to where their energy is, not as specks in a grey canvas."""
    w = torch.zeros(2, 3, 15, 15)
    w[0, :, 6:9, 4:7] = 1.0                          # a 3x3 filter off-centre: 27 units of energy
    w[1, 0, 7, 5] = -2.0                             # a single pixel inside that square
    w[0, 0, 0, 14] = 0.5                             # a faint far pixel: 0.25 / 27.25 of filter 0's energy
    rows, cols = fl.effective_field(w, energy=0.95)
    assert (rows, cols) == (slice(6, 9), slice(4, 7))
    assert fl.crop_to_field(w, energy=0.95).shape == (2, 3, 3, 3)
    assert fl.crop_to_field(w, energy=1.0).shape == (2, 3, 11, 11)       # all the energy: columns 4..14 reach the far pixel
    with pytest.raises(ValueError, match="energy is a share"):
        fl.effective_field(w, energy=1.5)


def test_show_effective_filters_crops_to_the_effective_field(model):
    w = torch.zeros(3, 3, 21, 21)
    w[:, :, 9:12, 9:12] = torch.randn(3, 3, 3, 3)
    w += 1e-4 * torch.randn_like(w)                  # a faint tail over the whole receptive field
    fig = fl.show_effective_filters(model, w, [0, 1, 2], "block2", raw=False, ncols=3)
    assert fig.axes[0].images[0].get_array().shape == (3, 3, 3)           # the 3x3 centre, drawn large
    assert fig.axes[0].images[0].get_interpolation() == "nearest"
    assert "of 21x21 px" in fig._suptitle.get_text()
    plt.close(fig)
    fig = fl.show_effective_filters(model, w, [0, 1, 2], "block2", raw=False, energy=None, ncols=3)
    assert fig.axes[0].images[0].get_array().shape == (21, 21, 3)
    plt.close(fig)
