"""The transformer network f_W of fast style transfer (slide "Artistic Style #8").

Johnson, Alahi, Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and Super-Resolution", ECCV 2016
(the architecture, here with fewer channels); Ulyanov, Vedaldi, Lempitsky, "Instance Normalization:
The Missing Ingredient for Fast Stylization", 2016:

    photo c [B, 3, H, W] -> 3 downsampling convolutions -> residual blocks x + r(x) -> 2 upsamplings
    -> a 9x9 convolution -> sigmoid -> y = f_W(c) [B, 3, H, W] in [0, 1]

Only the network: its loss is ``fast_style_losses``, its training ``fast_style``.
"""
import torch
import torch.nn as nn


def conv(n_in, n_out, k, stride=1):
    """Reflection padding (no dark border from zeros) then a convolution."""
    return nn.Sequential(nn.ReflectionPad2d(k // 2), nn.Conv2d(n_in, n_out, k, stride))


def conv_norm_relu(n_in, n_out, k, stride=1, upsample=False):
    """[upsample x2 ->] conv -> instance norm -> ReLU.

    Upsample-then-convolve instead of a transposed convolution: a stride-2 transposed conv
    whose kernel is not divisible by the stride covers some output pixels more often than
    others, which paints a checkerboard (the demo in notebook 02; Odena et al., Distill 2016).
    Nearest-neighbour upsampling followed by a plain conv covers every pixel equally.
    """
    up = [nn.Upsample(scale_factor=2, mode="nearest")] if upsample else []
    return nn.Sequential(*up, conv(n_in, n_out, k, stride), nn.InstanceNorm2d(n_out, affine=True), nn.ReLU())


class Residual(nn.Module):
    """x + conv-norm-ReLU-conv-norm(x)."""

    def __init__(self, n):
        super().__init__()
        self.body = nn.Sequential(conv(n, n, 3), nn.InstanceNorm2d(n, affine=True), nn.ReLU(),
                                  conv(n, n, 3), nn.InstanceNorm2d(n, affine=True))

    def forward(self, x):
        return x + self.body(x)


class TransformerNet(nn.Module):
    """f_W: photo [B,3,H,W] in [0,1] -> stylised [B,3,H,W] in [0,1] (slide #8; Johnson et al., smaller).

    Instance normalisation (Ulyanov et al.) normalises each image's contrast on its own,
    which is what makes the stylisation independent of the photo's lighting.
    """

    def __init__(self, channels=(16, 32, 64), residual_blocks=5):
        super().__init__()
        c1, c2, c3 = channels
        self.down = nn.Sequential(conv_norm_relu(3, c1, 9), conv_norm_relu(c1, c2, 3, 2), conv_norm_relu(c2, c3, 3, 2))
        self.res = nn.Sequential(*[Residual(c3) for _ in range(residual_blocks)])
        self.up = nn.Sequential(conv_norm_relu(c3, c2, 3, upsample=True), conv_norm_relu(c2, c1, 3, upsample=True), conv(c1, 3, 9))

    def forward(self, c):
        H, W = c.shape[-2:]
        y = self.up(self.res(self.down(c)))  # [B, 3, >=H, >=W]: odd sizes round up twice
        return torch.sigmoid(y[..., :H, :W])
