"""./run.sh doctor (course_lib.doctor): the environment a lecturer has, one line each."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course_lib import doctor
from course_lib.models import cached_weights_path

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["python", "torch build", "venv size", "after import torch", "machine", "quick mode", "nets cached",
          "paintings cached", "caches"]


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """A torch hub cache holding AlexNet's file and half of VGG16's, a course cache holding one painting."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("COURSE_LIB_CACHE", str(tmp_path / "course"))
    alexnet = Path(cached_weights_path("alexnet"))
    alexnet.parent.mkdir(parents=True)
    alexnet.write_bytes(b"\0" * 3_000_000)
    vgg16 = Path(cached_weights_path("vgg16"))
    Path(f"{vgg16}.part").write_bytes(b"\0" * 1000)     # an interrupted download is not a cached net
    painting = tmp_path / "course" / "paintings" / "starry_night.jpg"
    painting.parent.mkdir(parents=True)
    painting.write_bytes(b"\xff\xd8" + b"\0" * 2_000_000)
    return tmp_path


def test_doctor_prints_every_line(caches):
    env = dict(os.environ, PYTHONPATH=str(ROOT), COURSE_LIB_QUICK="1")
    out = subprocess.run([sys.executable, "-m", "course_lib.doctor"], capture_output=True, text=True, env=env,
                         timeout=300, cwd=caches)
    assert out.returncode == 0, out.stderr
    lines = dict(re.match(r"(\S.*?)\s{2,}(.*)", line).groups() for line in out.stdout.splitlines())
    assert list(lines) == LABELS
    assert re.fullmatch(r"\d[^,]*, (CPU-only build|CUDA [\d.]+ build, .*)", lines["torch build"])
    assert ("CPU-only" in lines["torch build"]) == (torch.version.cuda is None)
    assert re.match(r"\d+\.\d GB", lines["venv size"])
    if sys.platform == "linux":
        assert re.fullmatch(r"\d+ MB resident \(VmRSS\), \d+\.\d GB address space \(VmSize\)", lines["after import torch"])
    assert lines["quick mode"].startswith("on")
    assert lines["nets cached"].startswith("alexnet (3 MB); missing: vgg16 (partial), vgg19, googlenet")
    assert lines["nets cached"].endswith("bundled, always there: efficientnet_lite0")
    assert lines["paintings cached"].startswith("starry_night (2 MB); missing: the_scream")
    assert str(caches / "torch") in lines["caches"] and str(caches / "course") in lines["caches"]


def test_disk_usage_counts_blocks_once_per_file(tmp_path):
    (tmp_path / "a").mkdir()
    data = tmp_path / "a" / "weights.bin"
    data.write_bytes(os.urandom(1 << 20))
    os.link(data, tmp_path / "same-file")          # a hard link is the same blocks
    (tmp_path / "link").symlink_to(data)            # a symlink is not followed
    usage = doctor.disk_usage(tmp_path)
    assert (1 << 20) <= usage < (1 << 20) + (1 << 18)


def fake_python(tmp_path, script: str) -> str:
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\n" + script)
    python.chmod(0o755)
    return str(python)


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script stands in for python")
def test_memory_line_reads_vmrss_and_vmsize_of_the_probe(tmp_path):
    python = fake_python(tmp_path, "printf 'Name:\\tpython\\nVmSize:\\t 3355443 kB\\nVmHWM:\\t 999999 kB\\n"
                                   "VmRSS:\\t  524288 kB\\n'\n")
    assert doctor.import_torch_memory(doctor.start_import_probe(python)) == \
        "512 MB resident (VmRSS), 3.2 GB address space (VmSize)"
    failing = fake_python(tmp_path, "echo 'ModuleNotFoundError: No module named torch' >&2; exit 1\n")
    assert doctor.import_torch_memory(doctor.start_import_probe(failing)).startswith("import torch failed: Module")


def test_torch_build_names_cpu_and_cuda_builds(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", None)
    assert doctor.torch_build().endswith("CPU-only build")
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "CUDA 13.0 build, no GPU visible" in doctor.torch_build()
