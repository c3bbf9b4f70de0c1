"""Binder cannot run here, so check its configuration against pyproject.toml and run.sh.

binder/requirements.txt must pin exactly the packages pyproject.toml asks for (its
dependencies plus the "lab" extra), each at a version inside pyproject's range, with
torch/torchvision taken from the CPU-only wheel index at the versions run.sh installs.
"""
import os
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def binder_requirements():
    """{name: Requirement} and the pip options (lines starting with '-') of binder/requirements.txt."""
    requirements, options = {}, []
    for line in (BINDER / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-"):
            options.append(line)
            continue
        req = Requirement(line)
        requirements[canonicalize_name(req.name)] = req
    return requirements, options


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pyproject_requirements():
    project = pyproject()
    lines = project["dependencies"] + project["optional-dependencies"]["lab"]
    return {canonicalize_name(Requirement(line).name): Requirement(line) for line in lines}


def pinned_version(req: Requirement) -> Version:
    specs = list(req.specifier)
    assert len(specs) == 1 and specs[0].operator == "==", f"binder must pin {req.name} with ==, got '{req}'"
    return Version(specs[0].version)


def test_binder_has_the_same_packages_as_pyproject():
    binder, _ = binder_requirements()
    project = pyproject_requirements()
    assert sorted(set(project) - set(binder)) == [], "in pyproject.toml but missing from binder/requirements.txt"
    assert sorted(set(binder) - set(project)) == [], "in binder/requirements.txt but not in pyproject.toml"


def test_binder_pins_are_inside_pyproject_ranges():
    binder, _ = binder_requirements()
    for name, wanted in pyproject_requirements().items():
        version = pinned_version(binder[name])
        assert wanted.specifier.contains(version, prereleases=True), (
            f"binder pins {name}=={version}, outside pyproject's '{wanted.specifier}'")


def test_binder_takes_cpu_only_torch_at_the_versions_run_sh_installs():
    binder, options = binder_requirements()
    assert f"--extra-index-url {CPU_INDEX}" in options, "torch must come from the CPU-only index (Binder has no GPU)"
    run_sh = (ROOT / "run.sh").read_text()
    default = re.search(r"TORCH_SPEC:-([^}]*)\}", run_sh).group(1).split()
    run_pins = {canonicalize_name(Requirement(r).name): pinned_version(Requirement(r)) for r in default}
    for name in ("torch", "torchvision"):
        version = pinned_version(binder[name])
        assert version.local == "cpu", f"binder's {name} must be the +cpu wheel, got {version}"
        assert version.public == run_pins[name].public, (
            f"binder's {name} {version} differs from run.sh's {run_pins[name]}: tests ran on the latter")


def test_binder_python_satisfies_requires_python():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-(\d+\.\d+)", runtime)
    assert match, f"runtime.txt must read like 'python-3.11', got {runtime!r}"
    assert Requirement(f"python{pyproject()['requires-python']}").specifier.contains(match.group(1))


def test_post_build_installs_the_package():
    post_build = BINDER / "postBuild"
    assert os.access(post_build, os.X_OK), "binder/postBuild must be executable (repo2docker runs it directly)"
    text = post_build.read_text()
    assert text.startswith("#!"), "postBuild needs a shebang line"
    assert re.search(r"pip install .*-e \.$", text, re.M), "postBuild must install course_lib (pip install -e .)"


def test_readme_badge_opens_the_tour_in_jupyterlab():
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not written yet")
    match = re.search(r"https://mybinder\.org/v2/[^\s)\]]+", readme.read_text())
    assert match, "README.md needs a Binder launch badge/link (https://mybinder.org/v2/...)"
    url = match.group(0)
    path = re.search(r"urlpath=(?:%2F|/)?lab(?:%2F|/)tree(?:%2F|/)([^&\s]+)", url)
    assert path, f"the Binder link must open JupyterLab (urlpath=lab/tree/...): {url}"
    notebook = path.group(1).replace("%2F", "/")
    assert notebook == "notebooks/00_tour.ipynb", f"the Binder link should open the tour, not {notebook}"
