import io
import struct
import time
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib import images
from course_lib.images import ImageError, image_to_tensor, load_image, tensor_to_image
from course_lib.samples import list_samples, sample_image
from tests.support import UNREACHABLE, QuietHandler, loopback_server


def encode(image, fmt, **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def rgb_gradient(w=40, h=30):
    x = np.linspace(0, 255, w, dtype=np.uint8)
    return Image.fromarray(np.stack([np.tile(x, (h, 1))] * 3, axis=-1))


def test_every_source_kind_gives_rgb(tmp_path):
    image = rgb_gradient()
    path = tmp_path / "g.png"
    image.save(path)
    for source in (path, str(path), encode(image, "PNG"), image, np.asarray(image)):
        loaded = load_image(source)
        assert loaded.mode == "RGB" and loaded.size == (40, 30)
        assert loaded.tobytes() == image.tobytes()


@pytest.mark.parametrize("mode", ["L", "1", "P", "CMYK", "I;16", "I", "F", "RGBA", "LA"])
def test_modes_become_rgb(mode):
    source = rgb_gradient().convert("L").convert(mode) if mode not in ("I;16", "I", "F") else None
    if mode == "I;16":
        source = Image.fromarray((np.arange(1200).reshape(30, 40) * 50).astype(np.uint16))
    elif mode in ("I", "F"):
        source = Image.fromarray(np.linspace(0, 70000, 1200).reshape(30, 40).astype(np.int32 if mode == "I" else np.float32))
    loaded = load_image(source)
    assert loaded.mode == "RGB" and loaded.size == (40, 30)
    a = np.asarray(loaded)
    assert a.max() > 200 and a.min() < 50  # the range was stretched, not clipped to black or white


def test_transparency_is_composited_on_white():
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))  # fully transparent red
    assert load_image(rgba).getpixel((0, 0)) == (255, 255, 255)
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([0, 0, 0] * 256)
    palette.info["transparency"] = 0
    assert load_image(encode(palette, "PNG", transparency=0)).getpixel((3, 3)) == (255, 255, 255)
    half = Image.new("LA", (4, 4), (0, 128))
    assert 120 < load_image(half).getpixel((0, 0))[0] < 135


def test_float_tiff_and_16_bit_png_files():
    floats = Image.fromarray(np.linspace(0, 1, 600, dtype=np.float32).reshape(20, 30))
    loaded = np.asarray(load_image(encode(floats, "TIFF")))
    assert loaded[0, 0, 0] == 0 and loaded[-1, -1, 0] == 255
    sixteen = Image.fromarray((np.arange(600).reshape(20, 30) * 100).astype(np.uint16))
    assert load_image(encode(sixteen, "PNG")).size == (30, 20)


def test_exif_orientation_is_applied():
    a = np.zeros((30, 40, 3), np.uint8)
    a[..., 0], a[..., 1] = np.linspace(0, 255, 40)[None], np.linspace(0, 255, 30)[:, None]   # red: x, green: y
    image = Image.fromarray(a)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    loaded = np.asarray(load_image(encode(image, "JPEG", exif=exif)), dtype=float)
    assert loaded.shape == (40, 30, 3)
    error = {turn: np.abs(loaded - np.asarray(image.transpose(turn), dtype=float)).mean()   # mean |difference| / 255
             for turn in (Image.Transpose.ROTATE_270, Image.Transpose.ROTATE_90, Image.Transpose.TRANSPOSE)}
    # clockwise (PIL's ROTATE_270): measured 1.6 (JPEG's loss); the other turn and the mirror: 88 and 45
    assert error[Image.Transpose.ROTATE_270] < 8 < 30 < min(error[Image.Transpose.ROTATE_90], error[Image.Transpose.TRANSPOSE])


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (10, 10), c) for c in [(255, 0, 0), (0, 0, 255)]]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    r, g, b = load_image(data).getpixel((5, 5))
    assert r > 200 and b < 50


def test_arrays_of_several_dtypes_and_shapes():
    assert load_image(np.zeros((5, 6), dtype=bool)).size == (6, 5)
    assert load_image(np.full((5, 6, 1), 0.5)).getpixel((0, 0)) == (128, 128, 128)
    assert load_image(np.zeros((5, 6, 4), dtype=np.uint8)).getpixel((0, 0)) == (255, 255, 255)
    for bad in (np.zeros((5, 6, 2)), np.zeros((2, 3, 4, 5)), np.zeros((0, 4)), np.full((3, 3), np.nan)):
        with pytest.raises(ImageError):
            load_image(bad)


def test_max_size_bounds_the_long_side():
    assert load_image(rgb_gradient(400, 100), max_size=100).size == (100, 25)
    assert load_image(rgb_gradient(40, 100), max_size=50).size == (20, 50)


@pytest.mark.parametrize("data, words", [
    (b"", "empty"),
    (b"this is a text file, not a picture", "not an image"),
    (None, "damaged or truncated"),
])
def test_bad_bytes_give_one_readable_error(data, words):
    if data is None:
        data = encode(rgb_gradient(200, 200), "JPEG")[:300]  # truncated JPEG
    with pytest.raises(ImageError, match=words):
        load_image(data)


def test_bad_paths_and_types(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(tmp_path / "empty.png")
    with pytest.raises(ImageError, match="cannot load an image from a int"):
        load_image(42)
    assert issubclass(ImageError, ValueError)


def png_header_only(width, height):
    """A PNG that claims width x height pixels but carries almost no data."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [9_000, 60_000])
def test_decompression_bombs_are_refused_before_decoding(side):
    # Decoding would fail as "truncated"; the pixel-count message proves we never tried.
    with pytest.raises(ImageError, match="megapixels|too large"):
        load_image(png_header_only(side, side))


# ---- downloads ---------------------------------------------------------------------------

class Handler(QuietHandler):
    routes = {}               # {path: (status, body, delay in s)}

    def do_GET(self):
        status, body, delay = self.routes.get(self.path, (404, b"", 0))
        time.sleep(delay)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_LIB_CACHE", str(tmp_path / "cache"))
    handler = type("H", (Handler,), {"routes": {}})
    with loopback_server(handler) as base:
        yield base, handler.routes


def test_download_is_cached(server):
    base, routes = server
    routes["/cat.png"] = (200, encode(rgb_gradient(), "PNG"), 0)
    assert load_image(base + "/cat.png").size == (40, 30)
    routes.clear()  # the server forgets it: a second load must come from the disk cache
    assert load_image(base + "/cat.png").size == (40, 30)


def test_download_failures_are_readable(server, monkeypatch):
    base, routes = server
    with pytest.raises(ImageError, match="HTTP 404"):
        load_image(base + "/missing.png")
    routes["/huge.png"] = (200, b"x" * 5000, 0)
    monkeypatch.setattr(images, "MAX_DOWNLOAD_BYTES", 1000)
    with pytest.raises(ImageError, match="larger than"):
        load_image(base + "/huge.png")
    routes["/slow.png"] = (200, b"", 3)
    monkeypatch.setattr(images, "DOWNLOAD_TIMEOUT_S", 0.3)
    with pytest.raises(ImageError, match="download failed"):
        load_image(base + "/slow.png")
    with pytest.raises(ImageError, match="download failed"):
        load_image(UNREACHABLE + "/nothing-listens-here.png")


class Misbehaving(QuietHandler):
    """A server that drips, redirects in a loop, or announces (and streams) a huge file."""

    def do_GET(self):
        if self.path == "/drip.png":                     # one byte every 0.05 s, 1000 bytes promised
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)
        elif self.path == "/loop.png":
            self.send_response(302)
            self.send_header("Location", "/loop.png")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path in ("/huge.png", "/huge-unannounced.png"):
            self.send_response(200)
            if self.path == "/huge.png":
                self.send_header("Content-Length", str(10**9))
            self.end_headers()
            for _ in range(200):                          # 200 x 64 kB, then stop
                self.wfile.write(b"x" * 65536)


@pytest.fixture
def bad_server(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_LIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(images, "DOWNLOAD_DEADLINE_S", 0.5)
    with loopback_server(Misbehaving) as base:
        yield base


def timed_error(url):
    start = time.monotonic()
    with pytest.raises(ImageError) as error:
        load_image(url)
    return str(error.value), time.monotonic() - start


def test_a_dripping_server_meets_the_total_deadline(bad_server):
    """The per-read timeout never fires (a byte comes every 0.05 s); the deadline does."""
    message, seconds = timed_error(bad_server + "/drip.png")
    assert "within the 0.5 s allowed" in message and "bytes received" in message
    assert seconds < 2


def test_a_redirect_loop_is_named(bad_server):
    message, seconds = timed_error(bad_server + "/loop.png")
    assert "redirects in a loop" in message and seconds < 2


def test_a_huge_file_is_refused(bad_server, monkeypatch):
    monkeypatch.setattr(images, "MAX_DOWNLOAD_BYTES", 1_000_000)
    message, seconds = timed_error(bad_server + "/huge.png")              # announced: refused at once
    assert "larger than 1 MB" in message and seconds < 2
    message, seconds = timed_error(bad_server + "/huge-unannounced.png")  # read until the limit only
    assert "larger than 1 MB" in message and seconds < 2


def test_a_refused_connection_fails_at_once(tmp_path, monkeypatch):
    import socket

    monkeypatch.setenv("COURSE_LIB_CACHE", str(tmp_path / "cache"))
    with socket.socket() as s:        # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    message, seconds = timed_error(f"http://127.0.0.1:{port}/cat.png")
    assert "download failed" in message and "offline" in message and seconds < 2


# ---- samples and tensors -----------------------------------------------------------------

def test_every_sample_loads_offline():
    samples = list_samples()
    assert {"chelsea", "coffee", "astronaut"} <= set(samples)
    assert sum(kind == "style" for kind in samples.values()) >= 3
    for name in samples:
        image = sample_image(name, max_size=64)
        assert image.mode == "RGB" and max(image.size) == 64
    with pytest.raises(ImageError, match="chelsea"):
        sample_image("mona_lisa")


def test_generated_style_images_are_deterministic_and_varied():
    styles = [name for name, kind in list_samples().items() if kind == "style"]
    for name in styles:
        a, b = sample_image(name), sample_image(name)
        assert a.tobytes() == b.tobytes() and a.size == (512, 512)
        assert np.asarray(a).std() > 20  # a picture, not a flat colour


def test_tensor_round_trip():
    image = rgb_gradient()
    x = image_to_tensor(image)
    assert x.shape == (1, 3, 30, 40) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert tensor_to_image(x).tobytes() == image.tobytes()
    assert tensor_to_image(x[0] * 2).getpixel((39, 0)) == (255, 255, 255)  # clipped
    with pytest.raises(ValueError):
        tensor_to_image(torch.zeros(2, 3, 4, 4))


@pytest.mark.parametrize("kernel_size, sigma", [(3, 0.5), (3, 1.0), (7, 2.3), (13, 2.0)])
def test_gaussian_blur_is_torchvisions(kernel_size, sigma):
    import torchvision.transforms.functional as TF
    x = torch.rand(2, 3, 20, 31, generator=torch.Generator().manual_seed(0))
    ours = images.gaussian_blur(x, kernel_size, sigma)
    assert ours.shape == x.shape
    assert torch.allclose(ours, TF.gaussian_blur(x, kernel_size, sigma), atol=1e-5)   # measured: <= 3e-7 apart
