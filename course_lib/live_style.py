"""Live style from the camera: one forward pass y = f_W(c) per frame (slides "Artistic Style #8-#9").

The feed-forward networks of ``fast_style`` need one pass per photo, fast enough for video. The
browser's camera (``getUserMedia``) plays in a small front-end module (``live_style.js``, an
``anywidget``); every frame goes to the kernel as JPEG bytes, is stylised and blended with the frame,

    out = s * f_W(c) + (1 - s) * c        (s: the strength slider, c: the frame),

and comes back as a JPEG shown beside the camera. The frame rate is measured in the kernel: frames
finished per second (the whole round trip: browser, transfer, decode, network, encode) and the
network's own milliseconds. Without a camera (none attached, no permission, or a page that may not
ask) the widget says so in one line and stylises the sample photos instead.

Speed: the network runs on the frame shrunk by ``work_scale`` (default 1/2: a 320x240 frame is
stylised at 160x120, about the 128-px crops the networks were trained on, so the strokes keep their
trained size) and its output is enlarged back to the frame; ``work_scale=1`` stylises every pixel,
about 4x the cost. At most two frames are in flight (the browser captures the next one while the kernel
stylises the last): a slow kernel lowers the frame rate instead of building a queue.
"""
import io
import re
import time
from itertools import cycle
from pathlib import Path

import anywidget
import ipywidgets as widgets
import torch
import torch.nn.functional as F
import traitlets
from PIL import Image

from . import config, fast_style
from .i18n import tr
from .assets import cache_dir
from .images import ImageError, image_to_tensor, tensor_to_image
from .samples import list_samples, sample_image

SIZES = {"160×120": (160, 120), "320×240": (320, 240), "640×480": (640, 480)}
JPEG_QUALITY = 85
MAX_FRAME_BYTES = 4_000_000   # a 640x480 JPEG is ~50 kB; anything far larger is not a camera frame
MAX_FRAME_PIXELS = 1280 * 960
STYLE_NAME = re.compile(r"[\w-]{1,40}")   # a file name in every system: letters, digits, _ and -


class CameraWidget(anywidget.AnyWidget):
    """The browser half: camera, frame capture, the styled frame, the readout (``live_style.js``)."""

    _esm = (Path(__file__).with_name("live_style.js")).read_text(encoding="utf-8")
    _css = """
    .course-live-pictures { display: flex; gap: 8px; flex-wrap: wrap; }
    .course-live-pictures video, .course-live-pictures img { width: 320px; height: auto; background: #eee; }
    .course-live-readout { font-family: monospace; margin-top: 4px; }
    .course-live-note { color: #8a5a00; }
    """
    width = traitlets.Int(320).tag(sync=True)
    height = traitlets.Int(240).tag(sync=True)
    running = traitlets.Bool(False).tag(sync=True)  # the start button: frames flow (and the camera is on) only while True
    camera = traitlets.Unicode("").tag(sync=True)   # set by the browser: "on", or why there is no camera
    note = traitlets.Unicode("").tag(sync=True)     # one line shown under the pictures


def decode_jpeg(data: bytes) -> torch.Tensor:
    """JPEG (or PNG) bytes -> [1, 3, H, W] in [0, 1]; ``ImageError`` for anything else."""
    if len(data) > MAX_FRAME_BYTES:
        raise ImageError(tr("a camera frame of {n} bytes is too large", n=len(data)))
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_FRAME_PIXELS:   # checked before the pixels are decoded
                raise ImageError(tr("a camera frame of {w}×{h} pixels is too large (at most 1280×960)", w=image.width, h=image.height))
            return image_to_tensor(image.convert("RGB"))
    except ImageError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise ImageError(tr("the camera frame is not a readable image ({error})", error=e)) from None


def encode_jpeg(x: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    tensor_to_image(x).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


@torch.inference_mode()
def stylise_frame(net, c: torch.Tensor, strength: float = 1.0, work_scale: float = 0.5) -> torch.Tensor:
    """s * f_W(c) + (1 - s) * c for a frame c [1, 3, H, W] in [0, 1], f_W run at ``work_scale`` of its size."""
    if not 0 <= strength <= 1:
        raise ValueError(tr("strength must be between 0 (the frame) and 1 (fully stylised), got {strength}", strength=strength))
    if not 0 < work_scale <= 1:
        raise ValueError(tr("work_scale must be in (0, 1], got {scale}", scale=work_scale))
    H, W = c.shape[-2:]
    small = c if work_scale == 1 else F.interpolate(c, scale_factor=work_scale, mode="bilinear", antialias=True)
    y = net(small)                                                   # [1, 3, h, w]
    if y.shape[-2:] != (H, W):
        y = F.interpolate(y, size=(H, W), mode="bilinear", align_corners=False)
    return (strength * y + (1 - strength) * c).clamp(0, 1)


class FrameRate:
    """Frames per second over the last ``window`` frames, from the times they were finished."""

    def __init__(self, window: int = 10):
        self.window, self.times = window, []

    def tick(self, now: float | None = None) -> float:
        self.times = (self.times + [time.perf_counter() if now is None else now])[-self.window - 1:]
        span = self.times[-1] - self.times[0]
        return (len(self.times) - 1) / span if span > 0 else 0.0


class LiveStyle:
    """The live widget: a start button, camera and styled frame, a style dropdown, a strength slider, a frame size,
    the readout. Nothing streams (and the camera stays off) until the start button is pressed.

    ``nets``: {name: FastStyle}. ``add_style(name, fast)`` puts another network in the dropdown (e.g. one
    trained in the notebook). ``handle(content, buffers)`` is the kernel's answer to one message of the
    browser; the notebook calls it directly with a test frame so that it also runs without a browser.
    """

    def __init__(self, nets: dict, size: str = "320×240", work_scale: float = 0.5):
        if not nets:
            raise ValueError(tr("no style networks to choose from"))
        if size not in SIZES:
            raise ValueError(tr("unknown frame size {size!r}; choose one of {sizes}", size=size, sizes=list(SIZES)))
        self.nets, self.work_scale = dict(nets), work_scale
        self.style = widgets.Dropdown(options=list(self.nets), description=tr("style"))
        self.strength = widgets.FloatSlider(value=1.0, min=0.0, max=1.0, step=0.05, description=tr("strength"))
        self.size = widgets.Dropdown(options=list(SIZES), value=size, description=tr("frame size"))
        self.camera = CameraWidget(width=SIZES[size][0], height=SIZES[size][1])
        self.start = widgets.ToggleButton(value=False, description=tr("camera"), icon="video-camera",
                                          tooltip=tr("start or stop the camera and the live style"))
        widgets.link((self.start, "value"), (self.camera, "running"))
        self.rate, self.frames, self.last_ms = FrameRate(), 0, 0.0
        self._samples = cycle([name for name, kind in list_samples().items() if kind == "photo"])
        self.size.observe(self._on_size, names="value")
        self.camera.observe(self._on_camera, names="camera")
        self.camera.observe(self._on_running, names="running")
        self.camera.on_msg(self._on_msg)
        self.box = widgets.VBox([widgets.HBox([self.start, self.style, self.strength, self.size]), self.camera])

    def _ipython_display_(self):
        from IPython.display import display
        display(self.box)

    def add_style(self, name: str, fast) -> None:
        """Put ``fast`` (a FastStyle) in the dropdown under ``name`` and select it."""
        self.nets[name] = fast
        self.style.options = list(self.nets)
        self.style.value = name

    def _on_size(self, change):
        self.camera.width, self.camera.height = SIZES[change["new"]]

    def _on_running(self, change):
        self.rate = FrameRate()   # the rate of this run only, not since a frame sent long ago

    def _on_camera(self, change):
        state = change["new"]
        self.camera.note = "" if state == "on" else tr("No camera ({reason}): styling the sample photos instead.", reason=state)

    def sample_frame(self) -> torch.Tensor:
        """The next sample photo, cropped and scaled to the frame size: [1, 3, H, W]."""
        W, H = SIZES[self.size.value]
        photo = sample_image(next(self._samples))
        scale = max(W / photo.width, H / photo.height)
        photo = photo.resize((max(W, round(photo.width * scale)), max(H, round(photo.height * scale))), Image.LANCZOS)
        left, top = (photo.width - W) // 2, (photo.height - H) // 2
        return image_to_tensor(photo.crop((left, top, left + W, top + H)))

    def handle(self, content: dict, buffers) -> tuple:
        """One browser message -> (reply content, reply buffers): a frame or a request for a sample photo."""
        kind = content.get("kind") if isinstance(content, dict) else None
        if kind == "frame":
            if not buffers:
                raise ImageError(tr("a camera frame message came without its image"))
            c, source = decode_jpeg(bytes(buffers[0])), []
        elif kind == "sample":
            c = self.sample_frame()
            source = [encode_jpeg(c)]
        else:
            raise ValueError(tr("unknown message from the camera widget: {kind!r}", kind=kind))
        start = time.perf_counter()
        y = stylise_frame(self.nets[self.style.value].net.eval(), c, self.strength.value, self.work_scale)
        self.last_ms = 1000 * (time.perf_counter() - start)
        styled = encode_jpeg(y)
        self.frames += 1
        fps = self.rate.tick()
        numbers = dict(fps=fps, ms=self.last_ms, n=self.frames, w=c.shape[-1], h=c.shape[-2])
        readout = (tr("{fps:.1f} frames/s · network {ms:.0f} ms · camera frame {n} ({w}×{h})", **numbers) if kind == "frame"
                   else tr("{fps:.1f} frames/s · network {ms:.0f} ms · sample photo {n} ({w}×{h})", **numbers))
        return {"kind": "styled", "readout": readout, "fps": fps}, [styled, *source]

    def _on_msg(self, widget, content, buffers):
        try:
            reply, out = self.handle(content, buffers)
        except (ValueError, KeyError, RuntimeError, OSError) as e:   # ImageError is a ValueError
            self.camera.send({"kind": "error", "text": f"⚠ {type(e).__name__}: {e}"})
            return
        self.camera.send(reply, buffers=out)


# ---- your own styles: trained in the notebook, kept between lectures ----------------------------

def my_styles_folder() -> Path:
    """Where ``save_style`` keeps the styles trained in class: ``$COURSE_LIB_CACHE/my_styles``.

    With quick-mode sizes (the tests) ``my_styles-small``: a few-step test run never overwrites a style
    trained in a lecture.
    """
    return cache_dir() / ("my_styles-small" if config.SMALL else "my_styles")


def save_style(fast, folder=None) -> Path:
    """Save a trained FastStyle as ``<folder>/<name>.pth`` (the name: letters, digits, _ and -)."""
    if not STYLE_NAME.fullmatch(fast.name):
        raise ValueError(tr("a style name is 1-40 letters, digits, '_' or '-', got {name!r}", name=fast.name))
    return fast.save(Path(folder or my_styles_folder()) / f"{fast.name}.pth")


def saved_styles(folder=None) -> dict:
    """{name: FastStyle} of every checkpoint in ``folder`` (default: ``my_styles_folder()``), read safely."""
    folder = Path(folder or my_styles_folder())
    return {path.stem: fast_style.load(path) for path in sorted(folder.glob("*.pth"))} if folder.is_dir() else {}
