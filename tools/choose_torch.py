"""Which PyTorch build ``./run.sh`` installs: the CPU-only one wherever CUDA has no NVIDIA GPU to use.

On Linux the default package index (PyPI) serves the CUDA build of torch: about 3 GB of ``nvidia/``
libraries and 0.9 GB of triton that a laptop without an NVIDIA GPU never uses, and more memory in every
process that imports it. PyTorch's own CPU index serves the same release built for the CPU only.

    TORCH_SPEC set           exactly that (the override for anything this does not foresee)
    macOS, Windows           the default index: its wheels there have no CUDA libraries
    Linux with an NVIDIA GPU the default index: the CUDA build
    Linux without one        the CPU index, if it answers within a few seconds;
                             else the default index, and one line says why

The release is the same on every route (``TORCH_PINS``); only where it comes from changes. On the CPU
index the x86-64 wheels carry the local label ``+cpu`` (``torch==2.14.1+cpu``), the ARM ones none.

Prints the ``pip install`` arguments on stdout and the choice with its reason, one line, on stderr.
Standard library only: ``run.sh`` runs it before the venv has anything installed.

    python3 tools/choose_torch.py [--cpu-index URL] [--timeout S]
"""
import argparse
import os
import platform
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

TORCH_PINS = ("torch==2.14.1", "torchvision==0.29.1")   # the release the tests ran on, on every route
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PROBE_TIMEOUT_S = 5.0       # for the whole probe, name lookup included: setup must never hang on it
NVIDIA_PROC = Path("/proc/driver/nvidia/gpus")            # one folder per GPU the driver sees
SIZES = "the CUDA build's venv is about 6 GB, the CPU build's about 1 GB"


@dataclass(frozen=True)
class Choice:
    pip_args: list      # what follows `pip install`
    reason: str         # one line for the user


def nvidia_gpu(proc_dir: Path = NVIDIA_PROC, which=shutil.which) -> str | None:
    """A short description of an NVIDIA GPU this machine has, or None.

    The driver lists each GPU under /proc/driver/nvidia/gpus; where /proc does not show it (some
    containers), ``nvidia-smi -L`` does. A driver without a GPU, or an nvidia-smi that lists none, fails
    or hangs, counts as no GPU.
    """
    try:
        gpus = sorted(p for p in proc_dir.iterdir() if p.is_dir())
    except OSError:
        gpus = []
    if gpus:
        try:
            model = next(line.split(":", 1)[1].strip() for line in (gpus[0] / "information").read_text().splitlines()
                         if line.startswith("Model:"))
        except (OSError, StopIteration):
            model = gpus[0].name
        return f"{model} (driver: {proc_dir})"
    smi = which("nvidia-smi")
    if not smi:
        return None
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    listed = [line.strip() for line in out.stdout.splitlines() if line.startswith("GPU ")]   # "No devices found." lists none
    return f"{listed[0]} (nvidia-smi)" if listed else None


def index_problem(index: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when ``index`` serves torch's page within ``timeout`` seconds, else why not, in a few words.

    Runs in a thread with a deadline because urllib's timeout does not cover the name lookup.
    """
    outcome = []

    def probe():
        try:
            with urllib.request.urlopen(f"{index.rstrip('/')}/torch/", timeout=timeout) as answer:
                outcome.append(None if answer.status == 200 else f"HTTP {answer.status}")
        except urllib.error.HTTPError as e:
            outcome.append(f"HTTP {e.code}")
        except urllib.error.URLError as e:
            outcome.append(str(e.reason))
        except Exception as e:   # timeouts, resets, bad URLs: all mean "not usable now"
            outcome.append(f"{type(e).__name__}: {e}")

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return outcome[0] if outcome else f"no answer within {timeout:g} s"


def cpu_pins(machine: str) -> list:
    """TORCH_PINS as the CPU index names them: ``+cpu`` on x86-64, nothing on ARM."""
    label = "+cpu" if machine.lower() in ("x86_64", "amd64") else ""
    return [pin + label for pin in TORCH_PINS]


def choose(system: str, machine: str, torch_spec: str | None, gpu, index_problem_of, cpu_index: str = CPU_INDEX) -> Choice:
    """The pip arguments and the reason. ``gpu()`` and ``index_problem_of(url)`` are the probes (tests fake them)."""
    pins = " ".join(TORCH_PINS)
    if torch_spec and torch_spec.strip():
        return Choice(torch_spec.split(), f"torch: TORCH_SPEC is set: pip install {torch_spec.strip()}")
    if system != "Linux":
        return Choice(list(TORCH_PINS), f"torch: {pins} from the default index ({system or 'this system'}: "
                                        "its wheels there have no CUDA libraries)")
    found = gpu()
    if found:
        return Choice(list(TORCH_PINS), f"torch: NVIDIA GPU found, {found}: the CUDA build of {pins} "
                                        "from the default index")
    problem = index_problem_of(cpu_index)
    if problem is None:
        return Choice(["--index-url", cpu_index] + cpu_pins(machine),
                      f"torch: no NVIDIA GPU: the CPU-only build of {pins} from {cpu_index} ({SIZES})")
    return Choice(list(TORCH_PINS), f"torch: no NVIDIA GPU, but the CPU index {cpu_index} cannot be reached "
                                    f"({problem}): falling back to the default index, whose Linux torch is the "
                                    f"CUDA build ({SIZES}; TORCH_SPEC overrides)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="choose_torch.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-index", default=os.environ.get("TORCH_CPU_INDEX") or CPU_INDEX,
                        help=f"PyTorch's CPU wheel index or a mirror of it (default: $TORCH_CPU_INDEX or {CPU_INDEX})")
    parser.add_argument("--timeout", type=float, default=PROBE_TIMEOUT_S, help="seconds the index has to answer")
    parser.add_argument("--nvidia-proc", type=Path, default=NVIDIA_PROC, help=argparse.SUPPRESS)   # tests point it elsewhere
    args = parser.parse_args(argv)
    choice = choose(platform.system(), platform.machine(), os.environ.get("TORCH_SPEC"),
                    gpu=lambda: nvidia_gpu(args.nvidia_proc),
                    index_problem_of=lambda url: index_problem(url, args.timeout), cpu_index=args.cpu_index)
    print(choice.reason, file=sys.stderr)
    print(" ".join(choice.pip_args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
