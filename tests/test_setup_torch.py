"""Which torch build ./run.sh installs (tools/choose_torch.py), with every probe faked: no GPU or one
(a fake /proc/driver/nvidia, a fake nvidia-smi on PATH), the CPU index answering or not (a loopback
server, a closed port, a server that never answers), macOS and Windows. Nothing leaves localhost.
"""
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.support import QuietHandler, loopback_server
from tools import choose_torch

ROOT = Path(__file__).resolve().parents[1]

PINS = list(choose_torch.TORCH_PINS)
on_linux = pytest.mark.skipif(platform.system() != "Linux", reason="the probes read Linux's /proc and PATH")


def never(*_):
    raise AssertionError("this probe must not run on this route")


def public_pins(pip_args):
    """{'torch': '2.14.1', ...} of the requirements among pip arguments, local labels (+cpu) dropped."""
    reqs = [Requirement(a) for a in pip_args if not a.startswith("-") and "://" not in a]
    return {r.name: str(next(iter(r.specifier)).version).split("+")[0] for r in reqs}


# ---- the decision, probes faked --------------------------------------------------------------------

@pytest.mark.parametrize("system", ["Darwin", "Windows"])
def test_macos_and_windows_take_the_default_index_without_probing(system):
    choice = choose_torch.choose(system, "arm64", None, gpu=never, index_problem_of=never)
    assert choice.pip_args == PINS
    assert system in choice.reason and "no CUDA" in choice.reason


def test_linux_with_an_nvidia_gpu_takes_the_cuda_build_without_probing_the_index():
    choice = choose_torch.choose("Linux", "x86_64", None, gpu=lambda: "GPU 0: NVIDIA H100", index_problem_of=never)
    assert choice.pip_args == PINS
    assert "NVIDIA GPU found" in choice.reason and "H100" in choice.reason


@pytest.mark.parametrize("machine, label", [("x86_64", "+cpu"), ("aarch64", "")])
def test_linux_without_gpu_takes_the_cpu_index_when_it_answers(machine, label):
    asked = []
    choice = choose_torch.choose("Linux", machine, "", gpu=lambda: None,
                                 index_problem_of=lambda url: asked.append(url))
    assert asked == [choose_torch.CPU_INDEX]
    assert choice.pip_args[:2] == ["--index-url", choose_torch.CPU_INDEX]
    assert choice.pip_args[2:] == [pin + label for pin in PINS]
    assert "CPU-only" in choice.reason


def test_linux_without_gpu_falls_back_to_the_default_index_in_one_line():
    choice = choose_torch.choose("Linux", "x86_64", None, gpu=lambda: None,
                                 index_problem_of=lambda url: "Name or service not known")
    assert choice.pip_args == PINS
    assert "cannot be reached (Name or service not known)" in choice.reason and "falling back" in choice.reason
    assert "\n" not in choice.reason


def test_torch_spec_overrides_everything():
    choice = choose_torch.choose("Linux", "x86_64", "torch==2.9.0 --index-url https://example.org/whl",
                                 gpu=never, index_problem_of=never)
    assert choice.pip_args == ["torch==2.9.0", "--index-url", "https://example.org/whl"]
    assert "TORCH_SPEC" in choice.reason


def test_every_route_installs_the_same_release():
    routes = [choose_torch.choose("Darwin", "arm64", None, never, never),
              choose_torch.choose("Linux", "x86_64", None, lambda: "gpu", never),
              choose_torch.choose("Linux", "x86_64", None, lambda: None, lambda url: None),
              choose_torch.choose("Linux", "aarch64", None, lambda: None, lambda url: None),
              choose_torch.choose("Linux", "x86_64", None, lambda: None, lambda url: "down")]
    assert public_pins(PINS) == {"torch": "2.14.1", "torchvision": "0.29.1"}
    for route in routes:
        assert public_pins(route.pip_args) == public_pins(PINS), route


# ---- the GPU probe ---------------------------------------------------------------------------------

def test_gpu_found_in_the_drivers_proc_folder(tmp_path):
    gpu = tmp_path / "gpus" / "0000:01:00.0"
    gpu.mkdir(parents=True)
    (gpu / "information").write_text("Model: \t\t NVIDIA GeForce RTX 4060\nIRQ:   42\n")
    assert choose_torch.nvidia_gpu(tmp_path / "gpus", which=never).startswith("NVIDIA GeForce RTX 4060")


def fake_nvidia_smi(folder: Path, output: str, status: int) -> Path:
    folder.mkdir(exist_ok=True)
    smi = folder / "nvidia-smi"
    smi.write_text(f"#!/bin/sh\nprintf '%s\\n' '{output}'\nexit {status}\n")
    smi.chmod(0o755)
    return smi


@on_linux
def test_gpu_found_by_nvidia_smi_when_proc_shows_none(tmp_path):
    smi = fake_nvidia_smi(tmp_path / "bin", "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-1234)", 0)
    found = choose_torch.nvidia_gpu(tmp_path / "missing", which=lambda name: str(smi))
    assert found.startswith("GPU 0: NVIDIA A100")


@on_linux
def test_no_gpu_when_nvidia_smi_fails_or_is_absent(tmp_path):
    smi = fake_nvidia_smi(tmp_path / "bin", "NVIDIA-SMI has failed because it could not communicate with the driver", 9)
    assert choose_torch.nvidia_gpu(tmp_path / "missing", which=lambda name: str(smi)) is None
    smi = fake_nvidia_smi(tmp_path / "bin", "No devices found.", 6)
    assert choose_torch.nvidia_gpu(tmp_path / "missing", which=lambda name: str(smi)) is None
    assert choose_torch.nvidia_gpu(tmp_path / "missing", which=lambda name: None) is None
    (tmp_path / "empty").mkdir()
    assert choose_torch.nvidia_gpu(tmp_path / "empty", which=lambda name: None) is None


# ---- the index probe, on loopback ------------------------------------------------------------------

class Index(QuietHandler):
    def do_GET(self):
        found = self.path == "/whl/cpu/torch/"
        self.send_response(200 if found else 404)
        self.end_headers()
        self.wfile.write(b"<a href='torch-2.14.1+cpu-cp311-cp311-manylinux_2_28_x86_64.whl'></a>" if found else b"")


@pytest.fixture
def index_url():
    with loopback_server(Index) as base:
        yield base + "/whl/cpu"


@pytest.fixture
def closed_port_url():
    with socket.socket() as s:   # a port just freed: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/whl/cpu"


@pytest.fixture
def silent_url():
    """A server that accepts connections and never answers (a black-holed proxy)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    yield f"http://127.0.0.1:{s.getsockname()[1]}/whl/cpu"
    s.close()


def test_index_that_serves_torch_is_usable(index_url):
    assert choose_torch.index_problem(index_url, timeout=5) is None


def test_index_without_torch_page_is_not(index_url):
    assert choose_torch.index_problem(index_url.replace("/whl/cpu", "/elsewhere"), timeout=5) == "HTTP 404"


def test_closed_port_is_reported_at_once(closed_port_url):
    start = time.monotonic()
    problem = choose_torch.index_problem(closed_port_url, timeout=5)
    assert problem and "refused" in problem.lower()
    assert time.monotonic() - start < 3


def test_an_index_that_never_answers_costs_only_the_timeout(silent_url):
    start = time.monotonic()
    problem = choose_torch.index_problem(silent_url, timeout=1)
    assert problem and ("timed out" in problem or "no answer" in problem)
    assert time.monotonic() - start < 3


# ---- the script as run.sh runs it --------------------------------------------------------------------

def run_script(tmp_path, *args, path_dirs=()):
    (tmp_path / "no-gpu").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("TORCH_SPEC", "TORCH_CPU_INDEX")}
    env["PATH"] = os.pathsep.join([str(d) for d in path_dirs] + ["/usr/bin", "/bin"])
    start = time.monotonic()
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "choose_torch.py"),
                          "--nvidia-proc", str(tmp_path / "no-gpu"), *args],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split(), out.stderr, time.monotonic() - start


@on_linux
def test_script_falls_back_in_one_line_and_seconds(tmp_path, closed_port_url):
    args, said, seconds = run_script(tmp_path, "--cpu-index", closed_port_url)
    assert args == PINS
    assert said.count("\n") == 1 and "cannot be reached" in said and closed_port_url in said
    assert seconds < 10


@on_linux
def test_script_takes_the_cpu_index_that_answers(tmp_path, index_url):
    args, said, _ = run_script(tmp_path, "--cpu-index", index_url)
    assert args[:2] == ["--index-url", index_url]
    assert public_pins(args) == public_pins(PINS)
    assert said.count("\n") == 1 and "CPU-only" in said


@on_linux
def test_script_takes_the_cuda_build_with_a_gpu_on_path(tmp_path, closed_port_url):
    fake_nvidia_smi(tmp_path / "bin", "GPU 0: NVIDIA GeForce RTX 3050 (UUID: GPU-5678)", 0)
    args, said, _ = run_script(tmp_path, "--cpu-index", closed_port_url, path_dirs=[tmp_path / "bin"])
    assert args == PINS
    assert "NVIDIA GPU found" in said and "RTX 3050" in said


@on_linux
def test_run_sh_installs_what_the_script_chose_and_stops_when_pip_fails(tmp_path, closed_port_url):
    """run.sh setup with a fake venv whose python logs `pip install` instead of installing."""
    if choose_torch.nvidia_gpu() is not None:
        pytest.skip("this machine has an NVIDIA GPU: run.sh would rightly take the CUDA build")
    venv, log = tmp_path / "venv", tmp_path / "pip.log"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f"""#!/bin/sh
case "$1" in
  -c) exit 1 ;;                                    # nothing is installed yet
  -m) echo "$*" >> {log}; exit ${{FAKE_PIP_STATUS:-0}} ;;
  *) exec {sys.executable} "$@" ;;
esac
""")
    python.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("TORCH_SPEC",)}
    env.update(COURSE_VENV=str(venv), TORCH_CPU_INDEX=closed_port_url)
    start = time.monotonic()
    out = subprocess.run([str(ROOT / "run.sh"), "setup"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert time.monotonic() - start < 15
    installs = log.read_text().splitlines()
    assert installs[0] == "-m pip install " + " ".join(PINS)
    assert [line for line in out.stderr.splitlines() if line.startswith("torch:")] == [
        next(line for line in out.stderr.splitlines() if "cannot be reached" in line)]

    log.unlink()
    env["FAKE_PIP_STATUS"] = "1"
    out = subprocess.run([str(ROOT / "run.sh"), "setup"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 1
    assert "failed" in out.stderr.splitlines()[-1] and "TORCH_SPEC" in out.stderr.splitlines()[-1]
    assert len(log.read_text().splitlines()) == 1    # nothing else was installed after the failure
