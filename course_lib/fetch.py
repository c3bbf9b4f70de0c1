"""Prepare a machine while it is online: the slides' networks and a few public-domain paintings.

    ./run.sh fetch                 the nets notebooks 01/03/05/06 prefer + the paintings
    ./run.sh fetch vgg19 shipwreck only these
    ./run.sh fetch --list          what is cached, where, and how large

Network weights go where torchvision itself looks for them, the torch hub cache
(``$TORCH_HOME/hub/checkpoints``), under torchvision's file names; their SHA-256 must start
with the hash in the file name (the check ``torch.hub`` does). Paintings go to
``$COURSE_LIB_CACHE/paintings`` (default ``~/.cache/course_lib``) and are used by
``sample_image("starry_night")`` etc.

Every download prints its size before it starts, shows a progress bar, is written to
``<file>.part`` and renamed only when complete and checked, so an interrupted or failed
download never leaves a file that later loads as corrupt; a second run resumes the
``.part`` where the server allows it. A file already cached and valid is skipped. Each
item fails on its own with one readable line (offline, HTTP error, wrong hash); the
others are still tried and the exit status is 1 if any failed.
"""
import argparse
import hashlib
import os
import re
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlparse

TIMEOUT_S = 20                   # per connection attempt and per read
USER_AGENT = "nn-art-course/0.1 (teaching toolkit; https://github.com/nn-art/nn-art)"  # Wikimedia asks for one
CHUNK = 1 << 20

# The nets the lecture notebooks prefer when cached: 01 AlexNet, 03 AlexNet/VGG16, 05 VGG16, 06 VGG19.
PREFERRED_NETS = ("alexnet", "vgg16", "vgg19")
NETS = PREFERRED_NETS + ("googlenet",)
NET_MB = {"alexnet": 233, "vgg16": 528, "vgg19": 548, "googlenet": 50}   # download sizes, for the pickers


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
DEFAULT = PREFERRED_NETS + tuple(PAINTINGS)


class FetchError(RuntimeError):
    """One item could not be fetched; the message is one readable line."""


# ---- where things live ------------------------------------------------------------------

def net_url(name: str) -> str:
    import torchvision

    from .models import TORCHVISION

    return getattr(torchvision.models, TORCHVISION[name][1]).IMAGENET1K_V1.url


def net_path(name: str) -> Path:
    from .models import cached_weights_path

    return Path(cached_weights_path(name))


def expected_hash_prefix(path: Path) -> str | None:
    """torch.hub's rule: 'vgg16-397923af.pth' -> '397923af', the start of the file's SHA-256."""
    match = re.search(r"-([a-f0-9]+)\.", path.name)
    return match.group(1) if match else None


def painting_path(name: str) -> Path:
    from .images import cache_dir

    return cache_dir() / "paintings" / f"{name}.jpg"


def item_path(name: str) -> Path:
    return net_path(name) if name in NETS else painting_path(name)


def item_url(name: str) -> str:
    return net_url(name) if name in NETS else PAINTINGS[name].url


def part_path(path: Path) -> Path:
    return path.with_name(path.name + ".part")


# ---- checks -------------------------------------------------------------------------------

def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def check_file(name: str, path: Path) -> None:
    """Raise FetchError unless ``path`` is a valid copy of item ``name``."""
    if name in NETS:
        prefix = expected_hash_prefix(path)
        if prefix and not sha256(path).startswith(prefix):
            raise FetchError(f"{path.name}: SHA-256 does not start with {prefix} (damaged or a different file)")
    else:
        from .images import ImageError, load_image

        try:
            load_image(path)
        except ImageError as e:
            raise FetchError(str(e)) from None


# ---- the download -------------------------------------------------------------------------

def download(url: str, path: Path, max_bytes: int, label: str = "", timeout: float = TIMEOUT_S,
             deadline_s: float | None = None, progress: bool = True, out=print) -> Path:
    """Stream ``url`` into ``path`` atomically (``path.part`` first), resuming a previous ``.part``.

    Raises FetchError (offline, HTTP error, too large, too slow); ``path`` is never half-written.
    The caller checks the content and then calls ``os.replace(part, path)`` — see ``fetch_one``.
    Returns the completed ``.part`` path.
    """
    from tqdm.auto import tqdm

    part = part_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT}
    if done:
        headers["Range"] = f"bytes={done}-"
    start = time.monotonic()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as response:
            if done and response.status != 206:   # the server ignored the range: start again
                done = 0
            length = response.headers.get("Content-Length")
            total = done + int(length) if length and length.isdigit() else None
            if total is not None and total > max_bytes:
                raise FetchError(f"{url} is {total / 1e6:.0f} MB, more than the {max_bytes / 1e6:.0f} MB allowed")
            size = f"{total / 1e6:.1f} MB" if total is not None else "size unknown"
            resumed = f", resuming at {done / 1e6:.1f} MB" if done else ""
            out(f"{label or path.name}: downloading {size}{resumed} from {url}")
            with open(part, "ab" if done else "wb") as f, tqdm(total=total, initial=done, unit="B", unit_scale=True,
                                                                 desc=label or path.name, disable=not progress) as bar:
                while block := response.read(CHUNK):
                    done += len(block)
                    if done > max_bytes:
                        raise FetchError(f"{url} sent more than the {max_bytes / 1e6:.0f} MB allowed")
                    if deadline_s is not None and time.monotonic() - start > deadline_s:
                        raise FetchError(f"{url} took longer than {deadline_s:.0f} s; try again on a faster network")
                    f.write(block)
                    bar.update(len(block))
            if total is not None and done != total:
                raise FetchError(f"{url} ended after {done / 1e6:.1f} of {total / 1e6:.1f} MB; run again to resume")
    except FetchError:
        if done > max_bytes:
            part.unlink(missing_ok=True)
        raise
    except urllib.error.HTTPError as e:
        if e.code == 416 and done:     # nothing left to send: the .part is complete; the caller checks it
            return part
        raise FetchError(f"{url} answered HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:   # offline, DNS, refused, timeout, reset
        reason = getattr(e, "reason", None) or e
        raise FetchError(f"cannot download {url} ({reason}); are you offline?") from None
    return part


def fetch_one(name: str, progress: bool = True, out=print) -> str:
    """Fetch item ``name`` unless a valid copy is cached; returns 'cached' or 'downloaded'."""
    path = item_path(name)
    if path.exists():
        try:
            check_file(name, path)
            return "cached"
        except FetchError as e:
            out(f"{name}: the cached file is not valid ({e}); downloading it again")
    if name in NETS:
        max_bytes = 2_000_000_000
    else:
        from .images import MAX_DOWNLOAD_BYTES

        max_bytes = MAX_DOWNLOAD_BYTES
    part = download(item_url(name), path, max_bytes, label=name, progress=progress, out=out)
    try:
        check_file(name, part)
    except FetchError:
        part.unlink(missing_ok=True)   # a wrong file must not be resumed either
        raise
    os.replace(part, path)             # atomic: the cache holds a complete, checked file or none
    return "downloaded"


def fetch(names=None, progress: bool = True, out=print) -> dict:
    """Fetch each item (default: ``DEFAULT``); {name: 'cached' | 'downloaded' | error message}."""
    names = list(names or DEFAULT)
    unknown = [n for n in names if n not in NETS and n not in PAINTINGS]
    if unknown:
        raise ValueError(f"unknown item(s) {', '.join(unknown)}; known: {', '.join(NETS + tuple(PAINTINGS))}")
    results = {}
    for name in names:
        try:
            results[name] = fetch_one(name, progress, out)
            out(f"{name}: {results[name]} at {item_path(name)}")
        except FetchError as e:
            results[name] = f"FAILED: {e}"
            out(f"{name}: FAILED: {e}")
        except KeyboardInterrupt:
            out(f"{name}: interrupted; the partial download is kept in {part_path(item_path(name))} and resumes next time")
            raise
    return results


def listing() -> list:
    """[(name, kind, status, size in bytes, path)] of every known item."""
    rows = []
    for name in NETS + tuple(PAINTINGS):
        path, kind = item_path(name), "net" if name in NETS else "painting"
        if path.exists():
            rows.append((name, kind, "cached", path.stat().st_size, path))
        elif part_path(path).exists():
            rows.append((name, kind, "partial (resumes)", part_path(path).stat().st_size, part_path(path)))
        else:
            rows.append((name, kind, "missing", 0, path))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="./run.sh fetch", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"items (default: {' '.join(DEFAULT)}); known: "
                                                 f"{' '.join(NETS + tuple(PAINTINGS))}; 'nets', 'paintings'")
    parser.add_argument("--list", action="store_true", help="show what is cached, where and how large")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (logs)")
    args = parser.parse_args(argv)
    if args.list:
        for name, kind, status, size, path in listing():
            shown = f"{size / 1e6:8.1f} MB" if size else f"{'':>11}"
            print(f"{name:<13} {kind:<9} {status:<18} {shown}  {path}")
        return 0
    groups = {"nets": PREFERRED_NETS, "paintings": tuple(PAINTINGS)}
    names = [n for name in args.names for n in groups.get(name, (name,))]
    try:
        results = fetch(names, progress=not args.no_progress)
    except ValueError as e:
        print(f"fetch: {e}", file=sys.stderr)
        return 2
    failed = [n for n, r in results.items() if r.startswith("FAILED")]
    if failed:
        print(f"{len(failed)} of {len(results)} failed: {', '.join(failed)}. Run again when online; "
              f"the notebooks use the bundled network and generated styles meanwhile.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
