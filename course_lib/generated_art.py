"""Style images made here, deterministically, so the style notebooks work offline.

Each function returns the same 512x512 RGB picture every time (fixed seeds, numpy
only). They are deliberately "painterly" in different ways: strong strokes
(swirls), flat colour fields with dark outlines (mosaic), rhythmic bands (waves)
and geometric shapes on canvas (bauhaus).
"""
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 512


def _grid(size=SIZE):
    y, x = np.mgrid[0:size, 0:size] / size  # [H, W] in [0, 1)
    return x, y


def _palette(t, colours):
    """Map t in [0, 1] onto a piecewise-linear ramp of RGB colours."""
    colours = np.asarray(colours, dtype=np.float64)
    pos = np.clip(t, 0, 1) * (len(colours) - 1)
    i = np.minimum(pos.astype(int), len(colours) - 2)
    f = (pos - i)[..., None]
    return colours[i] * (1 - f) + colours[i + 1] * f


def _image(rgb):
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def swirls(size=SIZE) -> Image.Image:
    """Brush-stroke swirls: a smooth random flow field smeared along itself (night-sky colours)."""
    rng = np.random.default_rng(1889)
    x, y = _grid(size)
    angle = np.zeros_like(x)
    for _ in range(6):  # a sum of random sinusoids gives a smooth flow direction
        fx, fy, phase = rng.uniform(1, 4), rng.uniform(1, 4), rng.uniform(0, 2 * np.pi)
        angle += np.sin(2 * np.pi * (fx * x + fy * y) + phase)
    strokes = rng.random((size, size))
    acc = np.zeros_like(strokes)
    px, py = x * size, y * size
    for step in range(-12, 13):  # line-integral convolution: average noise along the flow
        sx = np.clip(px + step * np.cos(angle * 2), 0, size - 1).astype(int)
        sy = np.clip(py + step * np.sin(angle * 2), 0, size - 1).astype(int)
        acc += strokes[sy, sx]
    t = (acc / 25 - 0.5) * 3 + 0.5 + 0.25 * np.sin(angle * 3)
    rgb = _palette(t, [(10, 25, 70), (30, 70, 150), (90, 140, 200), (235, 220, 120), (250, 245, 200)])
    return _image(rgb)


def mosaic(size=SIZE) -> Image.Image:
    """Stained glass: Voronoi cells in saturated colours with dark lead lines."""
    rng = np.random.default_rng(1905)
    x, y = _grid(size)
    seeds = rng.random((90, 2))
    d = (x[..., None] - seeds[:, 0]) ** 2 + (y[..., None] - seeds[:, 1]) ** 2  # [H, W, cells]
    nearest = np.sort(d, axis=-1)
    cell = np.argmin(d, axis=-1)
    colours = rng.choice(np.array([(200, 40, 40), (240, 180, 30), (40, 90, 180), (30, 140, 80),
                                   (230, 110, 30), (120, 50, 140), (235, 225, 200)]), size=len(seeds))
    rgb = colours[cell].astype(np.float64)
    edge = np.sqrt(nearest[..., 1]) - np.sqrt(nearest[..., 0])  # distance to the nearest border
    rgb *= np.clip(edge * size / 4, 0, 1)[..., None] * 0.9 + 0.1
    rgb *= 0.85 + 0.15 * rng.random((size, size))[..., None]  # glass texture
    return _image(rgb)


def waves(size=SIZE) -> Image.Image:
    """Woodblock waves: layered sine bands in Prussian blue with pale crests."""
    x, y = _grid(size)
    t = np.zeros_like(x)
    for k, (amp, freq, speed) in enumerate([(0.05, 3, 0.0), (0.03, 7, 1.3), (0.015, 17, 2.1)]):
        t += amp * np.sin(2 * np.pi * (freq * x + speed) + 8 * y)
    bands = (y * 9 + t * 9) % 1.0
    crest = np.clip((bands - 0.82) / 0.18, 0, 1) ** 2
    rgb = _palette(bands * 0.8, [(15, 35, 80), (30, 80, 140), (90, 150, 190)])
    rgb = rgb * (1 - crest[..., None]) + np.array([245, 240, 225]) * crest[..., None]
    return _image(rgb)


def bauhaus(size=SIZE) -> Image.Image:
    """Geometric abstraction: circles, bars and triangles on warm canvas."""
    rng = np.random.default_rng(1923)
    image = Image.new("RGB", (size, size), (238, 228, 205))
    draw = ImageDraw.Draw(image)
    colours = [(200, 35, 35), (30, 60, 150), (245, 190, 30), (20, 20, 20)]
    for _ in range(26):
        c = colours[rng.integers(len(colours))]
        cx, cy, r = rng.uniform(0, size, 2).tolist() + [rng.uniform(12, size / 5)]
        kind = rng.integers(3)
        if kind == 0:
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=c)
        elif kind == 1:
            draw.line([cx - 2 * r, cy - r, cx + 2 * r, cy + r], fill=c, width=int(rng.integers(3, 14)))
        else:
            draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=c)
    noise = np.random.default_rng(7).normal(0, 6, (size, size, 1))  # canvas grain
    return _image(np.asarray(image.filter(ImageFilter.GaussianBlur(0.8)), dtype=np.float64) + noise)


STYLE_IMAGES = {"swirls": swirls, "mosaic": mosaic, "waves": waves, "bauhaus": bauhaus}
