"""Which network the notebooks use: cached_models, model_choices, preferred_model — all offline.

A temporary TORCH_HOME holds random weights under torchvision's file names (what
``./run.sh fetch`` leaves there, minus the training), so every path runs without a network:
the library's choice, the techniques on the classic nets, and the notebooks themselves.
"""
from pathlib import Path

import pytest
import torch

from course_lib import deconvnet, saliency
from course_lib.hooks import hook_count
from course_lib.models import cached_models, cached_weights_path, load_model, model_choices, preferred_model
from course_lib.notebook_runner import run_notebook as run
from course_lib.style import transfer
from tests.support import write_random_weights

ROOT = Path(__file__).resolve().parents[1]

NOTEBOOK_NETS = {"01_filters_hubel_wiesel": "alexnet", "03_deconvnet": "alexnet", "05_saliency": "vgg16",
                 "06_artistic_style": "vgg19"}


@pytest.fixture(scope="module")
def fake_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("torch_home")
    write_random_weights(home, ["alexnet", "vgg16", "vgg19"])
    return home


@pytest.fixture
def empty_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    return tmp_path / "empty"


def test_nothing_cached_means_the_bundled_net(empty_home, model, capsys):
    assert cached_models() == ["efficientnet_lite0"]
    choices = model_choices()
    assert choices[0] == ("efficientnet_lite0", "efficientnet_lite0")
    assert ("vgg16 (needs download, 528 MB)", "vgg16") in choices
    assert preferred_model("vgg16", "alexnet", fallback=model) is model      # the same object: no second copy
    line = capsys.readouterr().out.strip()
    assert line.count("\n") == 0 and "bundled efficientnet_lite0" in line and "./run.sh fetch vgg16 alexnet" in line
    assert not empty_home.exists()                                             # and nothing was downloaded


def test_a_cached_net_is_listed_first_and_preferred(fake_home, monkeypatch, model, capsys):
    monkeypatch.setenv("TORCH_HOME", str(fake_home))
    assert cached_models() == ["efficientnet_lite0", "vgg16", "vgg19", "alexnet"]
    labels = [label for label, _ in model_choices()]
    assert labels[:4] == ["efficientnet_lite0", "vgg16", "vgg19", "alexnet"] and labels[4].startswith("googlenet (needs")
    chosen = preferred_model("googlenet", "alexnet", fallback=model)
    assert chosen.name == "alexnet" and chosen is not model
    assert f"Network: alexnet with ImageNet weights, cached at {cached_weights_path('alexnet')}" in capsys.readouterr().out
    saved = torch.load(cached_weights_path("alexnet"), weights_only=True)
    assert torch.equal(chosen.net.features[0].weight, saved["features.0.weight"].float())   # the cached file was loaded


def test_a_damaged_cache_file_gives_the_bundled_net_and_a_line(tmp_path, monkeypatch, model, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = Path(cached_weights_path("vgg19"))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 truncated")
    assert preferred_model("vgg19", fallback=model) is model
    out = capsys.readouterr().out
    assert "vgg19's cached weights do not load" in out and "./run.sh fetch vgg19" in out


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="valid models"):
        preferred_model("vgg17")


# ---- the notebooks' techniques on the classic nets (random weights) ----------------------

def test_deconvnet_top_patches_with_switches_on_alexnet_and_vgg16():
    images = torch.rand(4, 3, 64, 64)
    pool = (images, [f"random {i}" for i in range(4)])
    config = deconvnet.PatchConfig(size=64, top_k=3, crop_scales=())
    for name in ("alexnet", "vgg16"):
        torch.manual_seed(0)
        net = load_model(name, device="cpu", pretrained=False)
        patches = deconvnet.top_patches(net, "relu3_3", 5, pool, config)
        assert len(patches) == 3 and [p.value for p in patches] == sorted((p.value for p in patches), reverse=True)
        # with max pooling the projection depends on the image (through the switches)
        a, b = (deconvnet.project(net, images[i:i + 1] * 2 - 1, "relu3_3", 5) for i in (0, 1))
        assert not torch.allclose(a / a.abs().max(), b / b.abs().max(), atol=1e-3)
        assert hook_count(net.net) == 0


def test_saliency_on_vgg16_is_pytorchs_gradient_of_the_class_score():
    torch.manual_seed(0)
    vgg = load_model("vgg16", device="cpu", pretrained=False)
    x = torch.randn(1, 3, 64, 64)
    maps = saliency.compare(vgg, x, 3)
    assert set(maps) == set(saliency.METHODS) and all(m.shape == x.shape for m in maps.values())
    I = x.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(vgg.net(I)[0, 3], I)                  # w = dS_3/dI, PyTorch's own
    scale = gradient.abs().max().item()
    assert scale > 0 and torch.allclose(maps["gradient"], gradient, atol=1e-5 * scale)
    assert not torch.allclose(maps["guided"], gradient, atol=1e-2 * scale)   # another ReLU rule, another map
    assert hook_count(vgg.net) == 0


def test_gatys_runs_on_vgg19_with_the_papers_layers():
    torch.manual_seed(0)
    vgg = load_model("vgg19", device="cpu", pretrained=False)
    content, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    # the slide's recipe: with random weights the losses are ~1e-6, and the clean recipe's TV term and
    # lower beta leave L-BFGS nothing to do in 4 evaluations on a 32 px image
    result = transfer(content, style, vgg, size=32, steps=4, live=False, recipe="plain")
    assert result.image.shape == (1, 3, 32, 32) and torch.isfinite(result.image).all()
    assert result.history["style"][-1] < result.history["style"][0] and hook_count(vgg.net) == 0


# ---- the notebooks pick the cached net, and the bundled one without it ---------------------

def run_notebook(name: str, monkeypatch, torch_home) -> str:
    """Execute a notebook in quick mode with TORCH_HOME set; returns all its text output."""
    env = {"TORCH_HOME": str(torch_home), "MPLBACKEND": "Agg",
           "COURSE_LIB_OFFLINE": "1"}          # paintings: the generated stand-ins, no waiting
    return run(ROOT / "notebooks" / f"{name}.ipynb", quick=True, env=env).text()


@pytest.mark.parametrize("name", list(NOTEBOOK_NETS))
def test_notebook_uses_the_cached_slide_network(name, fake_home, monkeypatch):
    text = run_notebook(name, monkeypatch, fake_home)
    assert f"Network: {NOTEBOOK_NETS[name]} with ImageNet weights" in text


# with nothing cached the notebooks fall back to the bundled net: tests/test_standard_tools.py (notebook 01)
