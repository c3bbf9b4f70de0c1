"""Binder pre-fetches the slides' networks and paintings at build time, into the caches the running image reads.

repo2docker cannot run here. What can be checked: binder/start (run at every container start)
exports the same TORCH_HOME and COURSE_LIB_CACHE that postBuild fills; postBuild fetches only
known items; and its fetch step, run offline in a temporary HOME, does not fail the build and
writes nothing.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

from course_lib import fetch
from tests.support import UNREACHABLE

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"


def fetch_step():
    """The lines of postBuild after the package install: the caches and the fetch."""
    text = (BINDER / "postBuild").read_text()
    return text.split("-e .\n", 1)[1]


def cache_exports(text, home):
    exports = dict(re.findall(r'(TORCH_HOME|COURSE_LIB_CACHE)="([^"]+)"', text))
    return {k: v.replace("$HOME", str(home)) for k, v in exports.items()}


def test_start_exports_the_caches_postbuild_fills(tmp_path):
    start = BINDER / "start"
    assert os.access(start, os.X_OK) and start.read_text().startswith("#!")
    assert start.read_text().rstrip().endswith('exec "$@"'), "binder/start must hand over to the server: exec \"$@\""
    built = cache_exports(fetch_step(), tmp_path)
    assert set(built) == {"TORCH_HOME", "COURSE_LIB_CACHE"}
    env = {**os.environ, "HOME": str(tmp_path)}
    out = subprocess.run([str(start), sys.executable, "-c", "import os; print(os.environ['TORCH_HOME']);"
                          "print(os.environ['COURSE_LIB_CACHE'])"], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == [built["TORCH_HOME"], built["COURSE_LIB_CACHE"]]


def test_postbuild_fetches_known_items_only():
    match = re.search(r"python -m course_lib\.fetch ([^|\n]+)", fetch_step())
    assert match, "postBuild must run the fetch"
    names = [a for a in match.group(1).split() if not a.startswith("-") and a != "\\"]
    groups = {"nets": fetch.PREFERRED_NETS, "paintings": tuple(fetch.PAINTINGS)}
    items = [n for a in names for n in groups.get(a, (a,))]
    assert items and set(items) <= set(fetch.NETS) | set(fetch.PAINTINGS), names
    assert set(fetch.PAINTINGS) <= set(items), "Binder should fetch the paintings too"


def test_postbuild_fetch_offline_does_not_fail_the_build(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "https_proxy": UNREACHABLE, "http_proxy": UNREACHABLE,
           "PYTHONPATH": str(ROOT), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("TORCH_HOME", None), env.pop("COURSE_LIB_CACHE", None)
    env["MPLCONFIGDIR"] = str(tmp_path.parent / f"{tmp_path.name}-matplotlib")   # its font list is no half-written cache
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", fetch_step()], capture_output=True, text=True, env=env,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "FAILED: download failed" in out.stdout and "fall back to the bundled network" in out.stdout
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []   # nothing half-written in the caches
