"""Attribution rows (issue 29): each map at 224 px on the bundled net, and the deletion/insertion curves of
every method on one photo (notebook 05b). Goals: a map <= 1 s, occlusion (window 32, stride 8) <= 5 s,
all curves <= 30 s, on 2 cores. On a shared machine read the ratios: each row over one forward pass at the same
size, measured in the same run (the first row), and the maps on ``inference_model``'s folded copy over the same maps
on the net as it is (``fast=False``)."""
import torch

from benchmarks.harness import Bench, Ratio
from course_lib import grad_cam, guided_grad_cam, integrated_gradients, load_model, occlusion_map
from course_lib import which_map
from course_lib.samples import image_tensor


def map_224(function, **options):
    model = load_model(device="cpu")
    x01 = image_tensor("chelsea", 224)                  # [1, 3, 149, 224]
    return lambda: function(model, x01, "Egyptian cat", **options)


def forward_224():
    model = load_model(device="cpu")
    x01 = image_tensor("chelsea", 224)

    def run():
        with torch.inference_mode():
            model.net(model.to_input(x01))

    return run


def curves_one_photo(judge: bool):
    model = load_model(device="cpu")
    config = which_map.CompareConfig(size=224, points=21, sanity=False)
    second = None
    if judge:
        from benchmarks.judge import Judge
        second = Judge()
    return lambda: which_map.compare(model, "chelsea", None, config=config, judge=second)


def benchmarks():
    rows = [
        Bench("attribution: baseline, one forward pass (efficientnet_lite0)", "224x149", forward_224, repeats=10),
        Bench("attribution: Grad-CAM (efficientnet_lite0, head)", "224x149", lambda: map_224(grad_cam), repeats=5, floor_s=1.0),
        Bench("attribution: Guided Grad-CAM (efficientnet_lite0)", "224x149", lambda: map_224(guided_grad_cam),
              repeats=5, floor_s=1.0),
        Bench("attribution: integrated gradients, default (midpoint rule, 256 steps)", "224x149",
              lambda: map_224(integrated_gradients), floor_s=1.0),
        Bench("attribution: integrated gradients, midpoint rule, 256 steps, the net as it is", "224x149",
              lambda: map_224(integrated_gradients, fast=False)),
        Bench("attribution: integrated gradients, midpoint rule, 64 steps", "224x149",
              lambda: map_224(integrated_gradients, steps=64), floor_s=1.0),
        Bench("attribution: integrated gradients, Gauss-Legendre, 64 steps", "224x149",
              lambda: map_224(integrated_gradients, steps=64, rule="gauss"), floor_s=1.0),
        Bench("attribution: occlusion, window 32, stride 8", "224x149",
              lambda: map_224(occlusion_map, window=32, stride=8), floor_s=5.0),
        Bench("attribution: occlusion, window 32, stride 8, the net as it is", "224x149",
              lambda: map_224(occlusion_map, window=32, stride=8, fast=False)),
        Bench("attribution: all 8 maps + deletion/insertion curves, one photo", "224x149",
              lambda: curves_one_photo(False), repeats=1, warmup=False, floor_s=30.0),   # one run: minutes on a busy machine
        Bench("attribution: the same, curves also judged by EfficientNet-Lite2", "224x149",
              lambda: curves_one_photo(True), repeats=1, warmup=False, slow=True),
    ]
    baseline = rows[0].name
    folded = [Ratio("integrated gradients, 256 steps: folded net / the net as it is", rows[3].name, rows[4].name),
              Ratio("occlusion: folded net / the net as it is", rows[7].name, rows[8].name)]
    return rows + [Ratio(f"{row.name[len('attribution: '):]} / forward pass", row.name, baseline)
                   for row in rows[1:-1]] + folded
