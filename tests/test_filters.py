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
