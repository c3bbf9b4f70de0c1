"""Prepare a machine while it is online: the slides' networks and a few public-domain paintings.

(What is fetched, where it goes and the downloader itself are in ``assets``; this is the command.)

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
from pathlib import Path

from .assets import (IMAGE_MAX_BYTES, NET_MAX_BYTES, NETS, PAINTINGS, PREFERRED_NETS, DownloadError, Painting,  # noqa: F401
                     cached_weights_path, download, net_url, painting_path, part_path)
from .images import ImageError, load_image

DEFAULT = PREFERRED_NETS + tuple(PAINTINGS)
FetchError = DownloadError       # one item failed; the message is one readable line
TIMEOUT_S = 20                   # the longest silence of a server; no deadline: a 0.5 GB net may take a while


def net_path(name: str) -> Path:
    return Path(cached_weights_path(name))


def expected_hash_prefix(path: Path) -> str | None:
    """torch.hub's rule: 'vgg16-397923af.pth' -> '397923af', the start of the file's SHA-256."""
    match = re.search(r"-([a-f0-9]+)\.", path.name)
    return match.group(1) if match else None


def item_path(name: str) -> Path:
    return net_path(name) if name in NETS else painting_path(name)


def item_url(name: str) -> str:
    return net_url(name) if name in NETS else PAINTINGS[name].url


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_file(name: str, path: Path) -> None:
    """Raise FetchError unless ``path`` is a valid copy of item ``name``."""
    if name in NETS:
        prefix = expected_hash_prefix(path)
        if prefix and not sha256(path).startswith(prefix):
            raise FetchError(f"{path.name}: SHA-256 does not start with {prefix} (damaged or a different file)")
    else:
        try:
            load_image(path)
        except ImageError as e:
            raise FetchError(str(e)) from None


def fetch_one(name: str, progress: bool = True, out=print) -> str:
    """Fetch item ``name`` unless a valid copy is cached; returns 'cached' or 'downloaded'."""
    path = item_path(name)
    if path.exists():
        try:
            check_file(name, path)
            return "cached"
        except FetchError as e:
            out(f"{name}: the cached file is not valid ({e}); downloading it again")
    max_bytes = NET_MAX_BYTES if name in NETS else IMAGE_MAX_BYTES
    part = download(item_url(name), path, max_bytes, timeout=TIMEOUT_S, label=name, progress=progress, out=out)
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
