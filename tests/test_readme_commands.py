"""The README's two commands, run as a new user runs them: a clean clone and a fresh venv.

The clone lies in a temporary folder with no ``../shared`` beside it (as on a student's machine).
The whole suite's own time is watched here too: ``tests/suite_budget.py`` (loaded by the root
``conftest.py``) fails a CI run whose tests take over ``COURSE_SUITE_BUDGET_S`` (600 s in ``.ci/run``),
prints the install's time beside them and the 15 slowest tests; the last test below checks that it does.

CI itself is the first new user: ``.ci/run`` runs ``./run.sh test`` in a clean clone, which
builds ``.venv`` from nothing. Here, under ``CI=true``, a second clean clone runs both commands
with that venv (``COURSE_VENV``), so CI does not install torch twice; with
``COURSE_LIB_SLOW=1`` the clone builds its own throwaway venv from scratch (minutes: torch is large). ``./run.sh test`` runs as written on a small subset of the tests
(extra arguments are passed to pytest); ``./run.sh lecture`` must start a JupyterLab
server that answers on localhost and serves the notebooks.
"""
import json
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBSET = ["-k", "test_quick_mode or test_hooks"]   # seconds once installed; needs torch and the package
SETUP_TIMEOUT_S = 1500
FRESH_VENV = os.environ.get("COURSE_LIB_SLOW") == "1"
SERVER_TIMEOUT_S = 120

slow = pytest.mark.skipif(
    os.environ.get("CI", "").lower() != "true" and os.environ.get("COURSE_LIB_SLOW") != "1",
    reason="slow (a clean clone installs torch into a new venv): runs in CI (CI=true) or with COURSE_LIB_SLOW=1")


def readme_commands() -> dict:
    """{'lecture': [...], 'test': [...]}: the ./run.sh lines of the README's shell blocks."""
    readme = (ROOT / "README.md").read_text()
    commands = {}
    for block in re.findall(r"```(?:bash|sh|shell|console)\n(.*?)```", readme, re.S):
        for line in block.splitlines():
            try:
                words = shlex.split(line, comments=True)
            except ValueError:          # a continued line (ending in a backslash): not a ./run.sh line
                continue
            if words[:1] == ["./run.sh"] and len(words) == 2:
                commands.setdefault(words[1], words)
    assert {"lecture", "test"} <= set(commands), f"README.md must show ./run.sh lecture and ./run.sh test, found {commands}"
    return commands


def new_user_env(home: Path) -> dict:
    """The environment of someone who has not activated any venv."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "COURSE_VENV", "PYTHONPATH", "COURSE_LIB_QUICK", "MPLBACKEND",
                        "COURSE_SUITE_START", "COURSE_SUITE_BUDGET_S")}
    venv_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != venv_bin)
    env["JUPYTER_RUNTIME_DIR"] = str(home / "jupyter-runtime")
    return env


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A clean clone after the README's test command ran on SUBSET: (path, env, output)."""
    tmp = tmp_path_factory.mktemp("new-user")
    path = tmp / "nn-art"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(path)], check=True)
    env = new_user_env(tmp)
    if not FRESH_VENV:
        env["COURSE_VENV"] = sys.prefix  # the venv CI's own run of ./run.sh built from a clean clone
    command = readme_commands()["test"] + SUBSET
    run = subprocess.run(command, cwd=path, env=env, capture_output=True, text=True, timeout=SETUP_TIMEOUT_S)
    return path, env, run


@slow
def test_readme_test_command_sets_up_and_passes(clone):
    path, _, run = clone
    assert not (path.parent / "shared").exists(), "the clone has no ../shared beside it"
    assert run.returncode == 0, f"./run.sh test failed in a clean clone:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert re.search(r"\d+ passed", run.stdout), run.stdout[-2000:]
    if FRESH_VENV:
        assert (path / ".venv" / "bin" / "python").exists(), "the first run creates .venv/"


@slow
def test_readme_lecture_command_starts_jupyterlab(clone):
    path, env, _ = clone
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    extra = ["--no-browser", f"--port={port}", f"--IdentityProvider.token={token}"]
    log_path = path.parent / "lecture.log"
    log = open(log_path, "w")
    server = subprocess.Popen(readme_commands()["lecture"] + extra, cwd=path, env=env, start_new_session=True,
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/contents?token={token}", timeout=5) as response:
                    contents = json.load(response)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    server.kill()
                    pytest.fail(f"./run.sh lecture did not answer on {url}:\n{log_path.read_text()[-3000:]}")
                time.sleep(1)
        assert "00_tour.ipynb" in {item["name"] for item in contents["content"]}, "JupyterLab opens on notebooks/"
        with urllib.request.urlopen(f"{url}/lab?token={token}", timeout=10) as response:
            assert response.status == 200 and "JupyterLab" in response.read().decode()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()


def test_the_suite_budget_fails_a_slow_run_and_names_the_slowest_tests(tmp_path):
    (tmp_path / "test_timing.py").write_text("import time\ndef test_slow():\n    time.sleep(0.3)\n"
                                             "def test_fast():\n    pass\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "tests"), COURSE_SUITE_START=str(time.time() - 42))

    def run(budget: str):
        env["COURSE_SUITE_BUDGET_S"] = budget
        return subprocess.run([sys.executable, "-m", "pytest", "-p", "suite_budget", "-p", "no:cacheprovider", "-q",
                               str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    over = run("0.2")
    assert over.returncode == 1 and "OVER BUDGET" in over.stdout, over.stdout
    slowest = over.stdout.split("the 15 slowest tests:")[1].splitlines()
    assert "test_timing.py::test_slow" in slowest[1] and "test_timing.py::test_fast" in slowest[2], over.stdout
    within = run("600")
    assert within.returncode == 0 and "of a 600 s budget" in within.stdout, within.stdout
    install = re.search(r"install before them: (\d+) s", within.stdout)
    assert install and 42 <= int(install[1]) < 120, within.stdout      # started 42 s before the session
