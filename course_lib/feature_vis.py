"""Class models the Distill way: Olah, Mordvintsev, Schubert, "Feature Visualization" (Distill 2017).

The objective stays the slide's, S_c(I) - lambda ||I||_2^2 with I the network input.
What changes is *how the image is described* and *what the network sees* at each step:

    x = sigmoid( M . irfft2( w * Z ) )          # [1, 3, H, W], always a valid picture
    I = to_input(x)

* Z: the parameters, Fourier coefficients of three decorrelated colour channels [1, 3, H, W/2+1].
* w_f = 1 / max(|f|, 1/H): a step of the same size on every coefficient changes the picture
  like 1/f noise, the spectrum of natural photos, instead of like white (pixel) noise.
  Plain pixels are the case w = 1 in the pixel basis: every step then adds high frequencies,
  and the stride-2 convolutions' gradients paint them as a checkerboard (notebook 02).
* M = sqrt(Sigma): Sigma is the RGB covariance of natural photos (the course's samples), so
  the three channels of Z are uncorrelated colours; equal steps on them give natural colours.
* transformation robustness: before each step the picture is randomly shifted, rescaled
  and rotated, T(x); the ascent then raises S_c(T(x)) for many T, and patterns that only
  work at one exact pixel position (noise) stop paying off.

Steps: the slide's own rule, Z += s g with g = d objective / dZ, s chosen so that the picture
moves by lr on average (mean |dy| = lr, y = M . irfft2(w * Z) before the sigmoid). Then the 1/f
weights act twice (chain rule, then the map back to pixels): a pixel-space step is the
gradient filtered by w_f^2 ~ 1/f^2, a strong low-pass. The paper's code uses Adam, which
equalises the step of every coefficient, so w_f only sets the amplitudes; on EfficientNet
that leaves fine texture everywhere (``optimizer="adam"``, compared in notebook 04).
``dream.class_visualization(..., recipe="distill")`` runs it; every trick is a switch.
"""
import math
from functools import cache

import torch
import torch.nn.functional as F


# ---- the colour space ------------------------------------------------------------------

@cache
def colour_sqrt_covariance() -> torch.Tensor:
    """M = Sigma^(1/2) of the RGB pixels of natural photos, scaled so its largest column has norm 1. [3, 3]"""
    import skimage.data

    photos = [getattr(skimage.data, name)() for name in ("astronaut", "chelsea", "coffee", "rocket")]
    pixels = torch.cat([torch.from_numpy(p).reshape(-1, 3).double() / 255 for p in photos])   # [P, 3]
    sigma = torch.cov(pixels.T)                                                                # [3, 3]
    eigenvalues, V = torch.linalg.eigh(sigma)
    M = V @ torch.diag(eigenvalues.sqrt()) @ V.T                                               # M M = Sigma
    return (M / M.norm(dim=0).max()).float()


# ---- the parameterisation --------------------------------------------------------------

def frequency_weights(h: int, w: int) -> torch.Tensor:
    """w_f = 1 / max(|f|, 1/max(h, w)) for the rfft2 grid, normalised to mean square 1. [h, w//2 + 1]"""
    fy = torch.fft.fftfreq(h).view(-1, 1)
    fx = torch.fft.rfftfreq(w).view(1, -1)
    weights = 1 / torch.sqrt(fy ** 2 + fx ** 2).clamp(min=1 / max(h, w))
    return weights / weights.pow(2).mean().sqrt()


class ImageParam:
    """x = sigmoid(M . basis(Z)); ``fourier`` and ``decorrelate`` switch the two tricks off."""

    def __init__(self, size: int, fourier: bool = True, decorrelate: bool = True, device="cpu"):
        self.size, self.fourier = size, fourier
        self.M = (colour_sqrt_covariance() if decorrelate else torch.eye(3)).to(device)
        if fourier:
            self.weights = frequency_weights(size, size).to(device)                     # [H, W/2+1]
            shape = (1, 3, size, size // 2 + 1, 2)                                       # real, imaginary
        else:
            shape = (1, 3, size, size)
        self.Z = torch.zeros(shape, device=device, requires_grad=True)                  # x = grey (0.5)

    def image(self) -> torch.Tensor:
        """[1, 3, H, W] in (0, 1)."""
        return torch.sigmoid(self.colours(self.Z))

    def colours(self, Z: torch.Tensor) -> torch.Tensor:
        """The linear part, y = M . basis(Z), before the sigmoid. [1, 3, H, W]"""
        if self.fourier:
            spectrum = torch.view_as_complex(Z) * self.weights                           # [1, 3, H, W/2+1]
            y = torch.fft.irfft2(spectrum, s=(self.size, self.size), norm="ortho")        # [1, 3, H, W]
        else:
            y = Z
        return torch.einsum("ij,njhw->nihw", self.M, y)                                  # decorrelated -> RGB

    @torch.no_grad()
    def step(self, g: torch.Tensor, lr: float):
        """Z += s g, with s such that the picture moves by ``lr`` on average (mean |dy| = lr, before the sigmoid)."""
        self.Z += lr * g / (self.colours(g).abs().mean() + 1e-12)


# ---- transformation robustness ---------------------------------------------------------

def random_transform(x: torch.Tensor, generator: torch.Generator, jitter: int = 0,
                     scale: float = 0.0, rotate: float = 0.0) -> torch.Tensor:
    """T(x): roll by up to ``jitter`` pixels, then scale by 1 +- ``scale`` and rotate by +- ``rotate`` degrees.

    Differentiable in x; the output has x's size. [N, 3, H, W] -> [N, 3, H, W]
    """
    if jitter:
        dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
        x = torch.roll(x, (dy, dx), dims=(2, 3))
    if scale or rotate:
        u = torch.rand(2, generator=generator) * 2 - 1                                   # two numbers in [-1, 1]
        s = 1 + scale * u[0].item()
        a = math.radians(rotate * u[1].item())
        theta = torch.tensor([[math.cos(a) / s, -math.sin(a) / s, 0.0],
                              [math.sin(a) / s, math.cos(a) / s, 0.0]], device=x.device)  # output -> input coords
        grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return x


# ---- an independent check: how much of the picture is fine-grained noise ----------------

def high_frequency_share(image: torch.Tensor, cutoff: float = 0.25) -> float:
    """Share of the picture's power (mean colour removed, all channels) at spatial frequencies above ``cutoff`` cycles/pixel.

    Natural photos keep most of their power at low frequencies (amplitude ~ 1/f); pixel noise and
    checkerboards put theirs near the Nyquist frequency 0.5. [1, 3, H, W] in [0, 1] -> a number in [0, 1]
    """
    x = image.detach().float().cpu()[0]                                                  # [3, H, W]
    power = torch.fft.fft2(x - x.mean(dim=(1, 2), keepdim=True)).abs().pow(2).sum(dim=0)  # [H, W], all colours
    fy = torch.fft.fftfreq(x.shape[1]).view(-1, 1)
    fx = torch.fft.fftfreq(x.shape[2]).view(1, -1)
    high = torch.sqrt(fy ** 2 + fx ** 2) > cutoff
    return (power[high].sum() / power.sum().clamp(min=1e-12)).item()
