"""Saliency and deconvnet rows: one map at 224 px per method (the widget must feel live), projections."""
import torch

from benchmarks.harness import Bench, Ratio
from course_lib import load_model, sample_image
from course_lib import deconvnet, saliency


def saliency_224(method, **averaging):
    model = load_model(device="cpu")
    x = model.preprocess(sample_image("chelsea").resize((224, 224)))

    return lambda: saliency.saliency(model, x, "tabby", method, **averaging)


def cascade():
    from course_lib import sanity
    model = load_model(device="cpu")
    x = model.preprocess(sample_image("chelsea", 128))
    steps = ["logits", "head", "block15", "block12", "block9", "block6", "block3", "block0", "stem"]  # notebook 05
    return lambda: sanity.cascading_randomisation(model, x, "Egyptian cat", steps=steps)


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
        Bench("saliency: averaged map, guided, 4x4 lattice (efficientnet_lite0)", f"{saliency.SAMPLES}x224x224",
              lambda: saliency_224("guided", samples=saliency.SAMPLES, shift=saliency.SHIFT), floor_s=3.0),
        Bench("saliency: averaged map, gradient, SmoothGrad (efficientnet_lite0)", f"{saliency.SAMPLES}x224x224",
              lambda: saliency_224("gradient", samples=saliency.SAMPLES, shift=1, noise=0.15), floor_s=3.0),
        Ratio("saliency: averaged / plain time (guided)", "saliency: averaged map, guided, 4x4 lattice (efficientnet_lite0)",
              "saliency: one map, guided (efficientnet_lite0)"),
        Bench("saliency: Adebayo cascade, 9 steps x 2 methods (notebook 05)", "128 px", cascade, repeats=1),  # one run: ~40 maps
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
