"""Foundation rows: loading the bundled model, one forward pass at 224 px."""
import torch

from benchmarks.harness import Bench
from course_lib import load_model


def forward_224():
    model = load_model(device="cpu")
    x = torch.rand(1, 3, 224, 224)

    def run():
        with torch.no_grad():
            model.net(model.to_input(x))

    return run


def benchmarks():
    return [
        Bench("model load (efficientnet_lite0, bundled weights)", "-", lambda: lambda: load_model(device="cpu"), warmup=False),
        Bench("forward pass (efficientnet_lite0)", "224x224", forward_224, repeats=10),
        Bench("forward pass (vgg16, random weights)", "224x224", lambda: _forward("vgg16")),
    ]


def _forward(name):
    model = load_model(name, device="cpu", pretrained=False)
    x = torch.rand(1, 3, 224, 224)

    def run():
        with torch.no_grad():
            model.net(model.to_input(x))

    return run
