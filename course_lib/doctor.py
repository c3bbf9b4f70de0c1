"""What this machine gives the course: the first thing to look at when a class reports "it is slow" or
"it ran out of memory".

    ./run.sh doctor          (= python -m course_lib.doctor)

One line each: the torch build (CPU-only or CUDA, and whether a GPU is there to use it), the size of
the virtual environment (with the CUDA libraries' share), the memory a fresh process holds right after
``import torch`` (resident, VmRSS, and address space, VmSize, from ``/proc/self/status``: the base of
every notebook kernel, and of an address-space limit), the machine's cores and memory, quick mode,
and which of the slides' networks and paintings are cached (``./run.sh fetch`` fills the caches).

A CUDA build on a machine without a GPU costs disk and memory and buys nothing; ``run.sh`` installs the
CPU-only build there when PyTorch's CPU index can be reached (README: "Which PyTorch").
"""
import os
import subprocess
import sys
from pathlib import Path

from .assets import cache_dir
from .config import QUICK
from .fetch import listing
from .models import BUNDLED

GB, MB = 2**30, 2**20     # as du -h and the benchmark table count


def torch_build() -> str:
    """'2.14.1, CPU-only build' or '2.14.1, CUDA 13.0 build, no GPU visible' (or the GPU's name)."""
    import torch

    if torch.version.cuda is None:
        return f"{torch.__version__}, CPU-only build"
    if torch.cuda.is_available():
        return f"{torch.__version__}, CUDA {torch.version.cuda} build, GPU: {torch.cuda.get_device_name(0)}"
    return (f"{torch.__version__}, CUDA {torch.version.cuda} build, no GPU visible "
            "(the CUDA libraries only cost disk and memory here)")


def disk_usage(path: Path) -> int:
    """Bytes on disk under ``path`` (like ``du``: allocated blocks, links not followed, each file once)."""
    total, seen = 0, set()
    for folder, folders, files in os.walk(path):
        for name in files + folders:
            try:
                st = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def environment_size() -> str:
    """The venv's size, with what nvidia/ and triton (the CUDA build's extras) take of it."""
    import torch

    site_packages = Path(torch.__file__).resolve().parents[1]
    in_venv = sys.prefix != sys.base_prefix
    root = Path(sys.prefix) if in_venv else site_packages
    parts = [f"{name} {disk_usage(site_packages / name) / GB:.1f} GB"
             for name in ("nvidia", "triton") if (site_packages / name).is_dir()]
    share = f" (of which {', '.join(parts)})" if parts else ""
    return f"{disk_usage(root) / GB:.1f} GB{share} at {root}" + ("" if in_venv else " (not a venv: site-packages only)")


IMPORT_PROBE = "import torch\nprint(open('/proc/self/status').read())"


def start_import_probe(python: str = sys.executable) -> subprocess.Popen:
    """A fresh process that imports torch and prints its /proc/self/status (started early: it takes seconds)."""
    return subprocess.Popen([python, "-c", IMPORT_PROBE], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def import_torch_memory(probe: subprocess.Popen | None = None) -> str:
    """Resident memory and address space of a fresh process right after ``import torch``."""
    probe = probe or start_import_probe()
    try:
        stdout, stderr = probe.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        probe.kill()
        probe.communicate()
        return "not measured (import torch took over 120 s)"
    fields = {}
    for line in stdout.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmSize"):
            fields[key] = int(value.split()[0]) * 1024   # kB
    if probe.returncode != 0:
        return f"import torch failed: {stderr.strip()[-200:]}"
    if len(fields) < 2:
        return "not measured (needs Linux's /proc)"
    return f"{fields['VmRSS'] / MB:.0f} MB resident (VmRSS), {fields['VmSize'] / GB:.1f} GB address space (VmSize)"


def machine() -> str:
    import torch

    memory = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, value = line.partition(":")
            memory[key] = int(value.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    line = f"{os.cpu_count()} CPU cores, torch uses {torch.get_num_threads()} threads"
    if "MemTotal" in memory:
        line += f"; memory {memory['MemTotal'] / GB:.1f} GB, {memory.get('MemAvailable', 0) / GB:.1f} GB available now"
    return line


def cached(kind: str) -> str:
    """'alexnet (233 MB); missing: vgg16, ...' for kind 'net' or 'painting' (fetch.listing's view)."""
    rows = [row for row in listing() if row[1] == kind]
    have = [f"{name} ({size / MB:.0f} MB)" for name, _, status, size, _ in rows if status == "cached"]
    missing = [name + (" (partial)" if status.startswith("partial") else "") for name, _, status, _, _ in rows
               if status != "cached"]
    text = ", ".join(have) if have else "none"
    return text + (f"; missing: {', '.join(missing)} (`./run.sh fetch` while online)" if missing else "")


def report() -> list:
    """[(label, value)] in the order printed."""
    import torch

    probe = start_import_probe()   # runs while the venv is measured
    return [
        ("python", f"{sys.version.split()[0]} at {sys.executable}"),
        ("torch build", torch_build()),
        ("venv size", environment_size()),
        ("after import torch", import_torch_memory(probe)),
        ("machine", machine()),
        ("quick mode", "on (COURSE_LIB_QUICK=1: small images, few steps)" if QUICK else "off (lecture quality)"),
        ("nets cached", f"{cached('net')}; bundled, always there: {BUNDLED}"),
        ("paintings cached", cached("painting")),
        ("caches", f"nets in {Path(torch.hub.get_dir()) / 'checkpoints'}, paintings in {cache_dir() / 'paintings'}"),
    ]


def main() -> int:
    rows = report()
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
