"""What the course downloads, where it keeps it, and the one way it downloads anything.

Registries: the slides' networks (``NETS``, torchvision's weights) and a few public-domain
paintings (``PAINTINGS``, Wikimedia Commons). Caches: network weights where torchvision looks
for them (``$TORCH_HOME/hub/checkpoints``, torchvision's file names); paintings and URL images
under ``$COURSE_LIB_CACHE`` (default ``~/.cache/course_lib``).

``download`` is used by the URL image loader (``images.load_image("https://...")``), by the
paintings (``samples.painting``) and by ``./run.sh fetch``. It streams into ``<file>.part``
(resumed when the server allows), refuses more than ``max_bytes``, and keeps one deadline
over connecting, every redirect and every byte: a socket timeout alone bounds each read only,
so a server dripping a byte a second would otherwise keep it waiting for ever.
"""
import hashlib
import http.client
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import torch
from tqdm.auto import tqdm

from .i18n import tr

USER_AGENT = "nn-art-course/0.1 (teaching toolkit; https://github.com/nn-art/nn-art)"  # Wikimedia asks for one
CHUNK = 1 << 16                  # one read; the deadline is checked after each

# ---- the networks -------------------------------------------------------------------------

# The nets the lecture notebooks prefer when cached: 01 AlexNet, 03 AlexNet/VGG16, 05 VGG16, 06 VGG19.
PREFERRED_NETS = ("alexnet", "vgg16", "vgg19")
NETS = PREFERRED_NETS + ("googlenet",)
NET_MB = {"alexnet": 233, "vgg16": 528, "vgg19": 548, "googlenet": 50}   # download sizes, for the pickers
NET_MAX_BYTES = 2_000_000_000
TORCHVISION = {                   # {name: (builder, weights enum, weights file)} in torchvision.models
    "vgg16": ("vgg16", "VGG16_Weights", "vgg16-397923af.pth"),
    "vgg19": ("vgg19", "VGG19_Weights", "vgg19-dcbb9e9d.pth"),
    "alexnet": ("alexnet", "AlexNet_Weights", "alexnet-owt-7be5be79.pth"),
    "googlenet": ("googlenet", "GoogLeNet_Weights", "googlenet-1378be20.pth"),
}                                 # (the file names spare every kernel torchvision's import, ~1.5 s; a test checks them)


def net_url(name: str) -> str:
    import torchvision                # heavy (it imports torch._dynamo): only where a net is downloaded
    return getattr(torchvision.models, TORCHVISION[name][1]).IMAGENET1K_V1.url


def cached_weights_path(name: str) -> str:
    """Where torchvision keeps (or would keep) the ImageNet weights of ``name``."""
    return os.path.join(torch.hub.get_dir(), "checkpoints", TORCHVISION[name][2])


# ---- the paintings ------------------------------------------------------------------------

@dataclass(frozen=True)
class Painting:
    title: str
    commons_file: str    # the file's name on Wikimedia Commons
    fallback: str        # the generated style image used offline (course_lib.generated_art)

    @property
    def url(self) -> str:
        """A 1280-px rendering on upload.wikimedia.org: /thumb/<h>/<hh>/<file>/1280px-<file>, h = md5(file)."""
        h = hashlib.md5(self.commons_file.encode()).hexdigest()
        name = quote(self.commons_file, safe=",()")
        return f"https://upload.wikimedia.org/wikipedia/commons/thumb/{h[0]}/{h[:2]}/{name}/1280px-{name}"


PAINTINGS = {
    "starry_night": Painting("Vincent van Gogh, The Starry Night (1889)",
                             "Van_Gogh_-_Starry_Night_-_Google_Art_Project.jpg", "swirls"),
    "the_scream": Painting("Edvard Munch, The Scream (1893)",
                           "Edvard_Munch,_1893,_The_Scream,_oil,_tempera_and_pastel_on_cardboard,_91_x_73_cm,"
                           "_National_Gallery_of_Norway.jpg", "waves"),
    "shipwreck": Painting("J. M. W. Turner, The Shipwreck (1805)",
                          "Joseph_Mallord_William_Turner_-_The_Shipwreck_-_Google_Art_Project.jpg", "waves"),
    "great_wave": Painting("Katsushika Hokusai, The Great Wave off Kanagawa (c. 1831)",
                           "Tsunami_by_hokusai_19th_century.jpg", "waves"),
}
IMAGE_MAX_BYTES = 40_000_000      # a painting or a URL image larger than this is refused


def cache_dir() -> Path:
    root = os.environ.get("COURSE_LIB_CACHE") or Path.home() / ".cache" / "course_lib"
    return Path(root)


def painting_path(name: str) -> Path:
    return cache_dir() / "paintings" / f"{name}.jpg"


def part_path(path: Path) -> Path:
    return path.with_name(path.name + ".part")


# ---- the downloader -----------------------------------------------------------------------

class DownloadError(RuntimeError):
    """A download failed (offline, HTTP error, too large, too slow); the message is one readable line."""


def download(url: str, path: Path, max_bytes: int, *, timeout: float = 20, deadline_s: float | None = None,
             label: str = "", progress: bool = False, out=None) -> Path:
    """Stream ``url`` into ``path.part`` (resuming an earlier one) and return that ``.part``.

    ``timeout`` bounds each silence of the server; ``deadline_s`` (None: no limit) the whole download.
    Raises ``DownloadError``; ``path`` itself is never written: the caller checks the ``.part``
    and then ``os.replace``-s it, so a cache holds a complete, checked file or none.
    """
    part = part_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = part.stat().st_size if part.exists() else 0
    end = time.monotonic() + (deadline_s if deadline_s is not None else float("inf"))
    too_slow = tr("download stopped: {url} did not arrive within the {seconds:g} s allowed; the server is too slow",
                  url=url, seconds=deadline_s or 0)
    too_large = tr("download refused: {url} is larger than {mb} MB", url=url, mb=max_bytes // 1_000_000)
    headers = {"User-Agent": USER_AGENT, **({"Range": f"bytes={done}-"} if done else {})}
    opener = urllib.request.build_opener(_RedirectWithinDeadline(end, too_slow))
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=min(timeout, deadline_s or timeout)) as response:
            if done and response.status != 206:        # the server ignored the range: start again
                done = 0
            length = response.headers.get("Content-Length", "")
            total = done + int(length) if length.isdigit() else None
            if total is not None and total > max_bytes:
                raise DownloadError(too_large)
            if out is not None:
                size = f"{total / 1e6:.1f} MB" if total is not None else "size unknown"
                out(f"{label or path.name}: downloading {size}" + (f", resuming at {done / 1e6:.1f} MB" if done else "")
                    + f" from {url}")
            with open(part, "ab" if done else "wb") as f, tqdm(total=total, initial=done, unit="B", unit_scale=True,
                                                                 desc=label or path.name, disable=not progress) as bar:
                while block := response.read1(CHUNK):
                    done += len(block)
                    if done > max_bytes:
                        raise DownloadError(too_large)
                    if time.monotonic() > end:
                        raise DownloadError(tr("{message} ({size:,} bytes received)", message=too_slow, size=done))
                    f.write(block)
                    bar.update(len(block))
            if total is not None and done != total:
                raise DownloadError(tr("download failed: {url} ended after {got:.1f} of {total:.1f} MB; run again to resume",
                                       url=url, got=done / 1e6, total=total / 1e6))
    except DownloadError:
        if done > max_bytes:
            part.unlink(missing_ok=True)
        raise
    except urllib.error.HTTPError as e:
        if e.code == 416 and done:     # nothing left to send: the .part is complete; the caller checks it
            return part
        if 300 <= e.code < 400:
            raise DownloadError(tr("download failed: {url} redirects in a loop (or too many times)", url=url)) from None
        raise DownloadError(tr("download failed: {url} answered HTTP {code} {reason}", url=url, code=e.code,
                               reason=e.reason)) from None
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as e:   # offline, DNS, timeout
        if time.monotonic() > end:
            raise DownloadError(too_slow) from None
        reason = getattr(e, "reason", None) or e
        raise DownloadError(tr("download failed: {url} ({reason}); are you offline?", url=url, reason=reason)) from None
    return part


class _RedirectWithinDeadline(urllib.request.HTTPRedirectHandler):
    """urllib's redirects (at most 10, loops refused), each one checked against the deadline."""

    def __init__(self, end: float, too_slow: str):
        self.end, self.too_slow = end, too_slow

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if time.monotonic() > self.end:
            raise DownloadError(self.too_slow)
        return super().redirect_request(req, fp, code, msg, headers, newurl)
