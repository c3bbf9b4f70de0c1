import os
import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision

from course_lib import ModelUnavailableError, UnknownNameError, load_model, sample_image
from course_lib.efficientnet_lite import EfficientNetLite0, weights_path
from course_lib.config import resolve_device
from course_lib.hooks import hook_count
from course_lib.models import MODEL_NAMES, cached_weights_path


def test_bundled_state_dict_matches_every_key():
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    assert set(state) == set(EfficientNetLite0().state_dict())


@pytest.mark.parametrize("photo, allowed", [("chelsea", {"Egyptian cat", "tabby", "tiger cat"}), ("coffee", {"espresso"})])
def test_bundled_model_recognises_sample_photos(model, photo, allowed):
    top1, probability = model.classify(sample_image(photo), k=1)[0]
    assert top1 in allowed
    assert probability > 0.3


def test_model_is_frozen_and_in_eval_mode(model):
    assert not model.net.training
    assert not any(p.requires_grad for p in model.net.parameters())
    assert len(model.categories) == 1000 and model.categories[285] == "Egyptian cat"


def test_preprocess_and_deprocess_are_inverse_within_uint8_rounding(model):
    image = sample_image("astronaut", max_size=96)
    t = model.preprocess(image)
    assert t.shape == (1, 3, image.size[1], image.size[0])
    # (x*255 - 127)/128: uint8 0 -> -127/128, 255 -> 1
    assert t.min().item() >= -127 / 128 - 1e-6 and t.max().item() <= 1 + 1e-6
    back = model.deprocess(t)
    assert back.tobytes() == image.tobytes()


def test_features_returns_requested_layers_in_order(model):
    x = model.preprocess(sample_image("coffee", max_size=128))
    features = model.features(x, ["block3", "stem"])
    assert list(features) == ["block3", "stem"]
    assert features["stem"].shape[1] == 32 and features["block3"].shape[1] == 40
    assert hook_count(model.net) == 0


def test_features_keep_the_graph_for_gradients(model):
    """The gradient through ``features`` is PyTorch's own through the whole net (a plain forward hook)."""
    x = model.preprocess(sample_image("coffee", max_size=64)).requires_grad_(True)
    model.features(x, "block5")["block5"].square().mean().backward()
    reference_input, seen = x.detach().clone().requires_grad_(True), []
    handle = model.layer("block5").register_forward_hook(lambda module, inputs, output: seen.append(output))
    try:
        model.net(reference_input)
    finally:
        handle.remove()
    (reference,) = torch.autograd.grad(seen[0].square().mean(), reference_input)
    assert reference.abs().max() > 0
    assert torch.allclose(x.grad, reference, rtol=1e-4, atol=1e-6 * reference.abs().max().item())


def test_layer_names_cover_the_network(model):
    assert model.layer_names[0] == "stem" and model.layer_names[-1] == "logits"
    assert len(model.layer_names) == 1 + 16 + 2


def test_unknown_model_and_layer_names_list_the_valid_ones(model):
    with pytest.raises(UnknownNameError, match="vgg19"):
        load_model("resnet9000")
    with pytest.raises(UnknownNameError, match="block15"):
        model.features(torch.zeros(1, 3, 32, 32), ["block99"])
    with pytest.raises(UnknownNameError, match="out of range"):
        model.class_index(1000)
    assert model.class_index("espresso") == model.categories.index("espresso")


def test_vgg_layers_get_paper_names():
    torch.manual_seed(0)
    vgg = load_model("vgg16", pretrained=False)
    assert vgg.layer_names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert {"relu5_3", "pool5", "fc6", "fc7", "logits"} <= set(vgg.layer_names)
    assert not any(p.requires_grad for p in vgg.net.parameters())


@pytest.fixture
def offline_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torch.hub, "urlopen", no_network)
    return tmp_path


@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if n != "efficientnet_lite0"])
def test_classic_net_offline_without_cache_gives_a_clear_error(offline_torch_home, name):
    with pytest.raises(ModelUnavailableError) as error:
        load_model(name)
    message = str(error.value)
    assert str(offline_torch_home) in message  # names the cache path
    assert "efficientnet_lite0" in message  # and the bundled alternative


@pytest.mark.parametrize("name, build", [
    ("googlenet", lambda: torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True)),
    ("alexnet", lambda: torchvision.models.alexnet(weights=None)),
])
def test_classic_net_loads_from_the_torch_hub_cache(offline_torch_home, name, build):
    torch.manual_seed(1)
    reference = build().eval()
    path = cached_weights_path(name)
    assert path.startswith(str(offline_torch_home))
    os.makedirs(os.path.dirname(path))
    torch.save(reference.state_dict(), path)
    model = load_model(name, device="cpu")
    for key, value in model.net.state_dict().items():
        assert torch.equal(value, reference.state_dict()[key]), key
    assert model.net(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)


@pytest.mark.parametrize("cuda, expected", [(False, "cpu"), (True, "cuda")])
def test_device_auto_means_cuda_when_present_else_cpu(monkeypatch, cuda, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)   # the "model" fixture forces "cpu": test "auto" here
    assert resolve_device("auto").type == expected and resolve_device(None).type == expected
    assert resolve_device("cpu").type == "cpu"                      # an explicit device is kept


def test_load_model_auto_falls_back_to_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert load_model().device.type == "cpu"


def test_the_shipped_names_are_torchvisions():
    """The category list and weight file names are shipped so that no kernel has to import torchvision."""
    from course_lib.assets import TORCHVISION, net_url
    from course_lib.models import imagenet_categories
    assert imagenet_categories() == torchvision.models.VGG16_Weights.IMAGENET1K_V1.meta["categories"]
    for name in TORCHVISION:
        assert os.path.basename(cached_weights_path(name)) == os.path.basename(net_url(name))


def test_importing_the_course_does_not_import_torchvision():
    """Every kernel imports course_lib: torchvision (and the torch._dynamo it pulls in) would add ~1.5 s to each."""
    import subprocess
    import sys
    modules = ["course_lib"] + [f"course_lib.{p.stem}" for p in
                                (Path(__file__).parents[1] / "course_lib").glob("*.py") if p.stem != "__init__"]
    code = f"import sys\nfor m in {modules!r}: __import__(m)\nprint('torchvision' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr[-2000:] or "a course_lib module imports torchvision at import time"
