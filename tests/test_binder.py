"""Binder cannot run here, so check its configuration against pyproject.toml and run.sh.

binder/requirements.txt must pin exactly the packages pyproject.toml asks for (its
dependencies plus the "lab" extra), each at a version inside pyproject's range, with
torch/torchvision taken from the CPU-only wheel index at the versions run.sh installs.
No two pins may contradict each other's declared requirements (what `pip check` would report
in the image: notebook 7.4 with jupyterlab 4.6 broke Binder's classic Notebook view once);
where repo2docker is installed, the Dockerfile it generates is checked too (no Docker needed).
"""
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tools import choose_torch

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
    assert "tools/choose_torch.py" in (ROOT / "run.sh").read_text(), "run.sh installs what choose_torch.py picks"
    run_pins = {canonicalize_name(Requirement(r).name): pinned_version(Requirement(r)) for r in choose_torch.TORCH_PINS}
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


# ---- the pins agree with each other: what `pip check` would say in the image --------------------------

def image_marker_environment() -> dict:
    """Markers as Binder's image evaluates them: Linux x86-64, runtime.txt's Python, no extras."""
    python = re.fullmatch(r"python-(\d+\.\d+)", (BINDER / "runtime.txt").read_text().strip()).group(1)
    env = default_environment()
    env.update(python_version=python, python_full_version=f"{python}.0", sys_platform="linux",
               platform_system="Linux", platform_machine="x86_64", os_name="posix", extra="")
    return env


def contradictions(pins: dict, requires_of, environment: dict) -> list:
    """Each case of one pinned package declaring a requirement that another pin does not satisfy.

    ``pins`` is {name: Version}; ``requires_of(name, version)`` gives that release's Requires-Dist lines,
    or None when its metadata is not at hand. Local labels do not matter: ``torch==2.14.1`` accepts
    ``2.14.1+cpu``, as pip does.
    """
    found = []
    for name, version in sorted(pins.items()):
        for line in requires_of(name, version) or []:
            req = Requirement(line)
            dependency = canonicalize_name(req.name)
            if dependency not in pins or (req.marker and not req.marker.evaluate(environment)):
                continue
            if not req.specifier.contains(pins[dependency], prereleases=True):
                found.append(f"{name}=={version} requires '{req}', but binder pins {dependency}=={pins[dependency]}")
    return found


def installed_requires(name: str, version: Version):
    """Requires-Dist of the installed distribution when it is the pinned release (builds alike), else None."""
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    return dist.requires or [] if Version(dist.version).public == version.public else None


def test_contradictions_finds_the_notebook_jupyterlab_mismatch():
    """The check itself, on the metadata that broke Binder (notebook 7.4.7 in repo2docker's base image)."""
    metadata = {("notebook", "7.4.7"): ["jupyterlab<4.5,>=4.4.9", "tornado>=6.2.0"],
                ("notebook", "7.6.5"): ["jupyterlab<4.7,>=4.6.6", "jupyter-server<3,>=2.19.0"],
                ("torchvision", "0.29.1+cpu"): ["numpy", "torch==2.14.1", 'pytest; extra == "test"',
                                                'jupyterlab<4; python_version < "3.9"']}
    requires_of = lambda name, version: metadata.get((name, str(version)))
    env = image_marker_environment()
    pins = {"jupyterlab": Version("4.6.6"), "notebook": Version("7.4.7"), "torch": Version("2.14.1+cpu"),
            "torchvision": Version("0.29.1+cpu"), "pytest": Version("1.0")}
    assert contradictions(pins, requires_of, env) == [
        "notebook==7.4.7 requires 'jupyterlab<4.5,>=4.4.9', but binder pins jupyterlab==4.6.6"]
    assert contradictions({**pins, "notebook": Version("7.6.5")}, requires_of, env) == []
    assert contradictions({**pins, "notebook": Version("7.6.5"), "torch": Version("2.15.0+cpu")}, requires_of, env) == [
        "torchvision==0.29.1+cpu requires 'torch==2.14.1', but binder pins torch==2.15.0+cpu"]


def test_binder_pins_do_not_contradict_each_other():
    binder, _ = binder_requirements()
    pins = {name: pinned_version(req) for name, req in binder.items()}
    assert "notebook" in pins, ("binder must pin notebook: repo2docker's base image ships a release made for "
                                "another jupyterlab, and pip leaves it there unless told")
    found = contradictions(pins, installed_requires, image_marker_environment())
    assert found == [], "binder/requirements.txt pins releases that cannot be installed together:\n" + "\n".join(found)
    unknown = [f"{name}=={version}" for name, version in pins.items() if installed_requires(name, version) is None]
    if unknown:   # another release is installed here (a newer upstream, or none): its requirements were not read
        warnings.warn(f"binder pins not checked, this environment has other releases: {', '.join(unknown)}; "
                      "`pip install -r binder/requirements.txt` in a scratch venv, then this test, checks them")


# ---- the image repo2docker would build (no Docker daemon: --no-build only writes the Dockerfile) -------

def repo2docker_command():
    here = Path(sys.executable).parent / "jupyter-repo2docker"
    return str(here) if here.exists() else shutil.which("jupyter-repo2docker")


@pytest.mark.skipif(repo2docker_command() is None, reason="jupyter-repo2docker is not installed (the test extra has it)")
def test_repo2docker_installs_the_requirements_then_runs_post_build(tmp_path):
    out = subprocess.run([repo2docker_command(), "--no-build", "--debug", str(ROOT)], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    dockerfile = out.stdout
    assert "Building conda environment for python=3.11" in out.stderr, "runtime.txt's Python must be the image's"
    install = dockerfile.index('pip install --no-cache-dir -r "binder/requirements.txt"')
    post_build = dockerfile.index("RUN ./binder/postBuild")
    assert install < post_build, "requirements.txt must be installed before postBuild runs"
    assert 'R2D_ENTRYPOINT="${REPO_DIR}/binder/start"' in dockerfile, "binder/start must wrap the server"
