"""Saliency and deconvnet rows: one map at 224 px per method (the widget must feel live), projections."""
import torch

from benchmarks.harness import Bench, Ratio
from course_lib import load_model, sample_image
from course_lib import deconvnet, saliency


def saliency_224(method):
    model = load_model(device="cpu")
    x = model.preprocess(sample_image("chelsea").resize((224, 224)))

    return lambda: saliency.saliency(model, x, "tabby", method)


def projection(name, form, layer):
    torch.manual_seed(0)
    model = load_model(name, device="cpu", pretrained=name == "efficientnet_lite0")
    x = model.preprocess(sample_image("chelsea").resize((224, 224)))
    if form == "mirror":
        mirror = deconvnet.DeconvNet.from_model(model)
        return lambda: mirror.project(x, layer, 7)
    return lambda: deconvnet.project(model, x, layer, 7)


def top_patches(new_layer):
    model = load_model(device="cpu")
    pool = deconvnet.image_pool(deconvnet.PatchConfig(size=224, crop_scales=(0.5,)))  # the lecture pool: 54 images

    def run():
        if new_layer:
            deconvnet._last_pool.clear()  # otherwise a channel change reuses the layer's activations
        deconvnet.top_patches(model, "block5", 3, pool, deconvnet.PatchConfig(top_k=9))

    return run


def benchmarks():
    return [
        *[Bench(f"saliency: one map, {method} (efficientnet_lite0)", "224x224", lambda m=method: saliency_224(m),
                repeats=10, floor_s=0.5) for method in saliency.METHODS],
        Bench("deconvnet: projection, rule form (efficientnet_lite0, block5)", "224x224",
              lambda: projection("efficientnet_lite0", "rule", "block5"), repeats=5, floor_s=0.5),
        Bench("deconvnet: projection, mirror (vgg16 random, relu4_3)", "224x224",
              lambda: projection("vgg16", "mirror", "relu4_3")),
        Bench("deconvnet: projection, rule form (vgg16 random, relu4_3)", "224x224",
              lambda: projection("vgg16", "rule", "relu4_3")),
        Ratio("deconvnet: mirror / rule form time (vgg16)", "deconvnet: projection, mirror (vgg16 random, relu4_3)",
              "deconvnet: projection, rule form (vgg16 random, relu4_3)"),
        Bench("deconvnet: top-9 patches, new layer (efficientnet_lite0)", "54x224x224", lambda: top_patches(True)),
        Bench("deconvnet: top-9 patches, new channel (efficientnet_lite0)", "54x224x224", lambda: top_patches(False)),
    ]
