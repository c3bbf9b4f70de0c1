"""Hostile submissions, built on the fly and graded in the sandbox: each tries to get a point it did
not earn, or to reach beyond its own row. Every one must end with 0 points for what it did not solve,
the honest row unchanged, no process left running and no connection made.

The attacks know everything the grader knows about its files (the test writes the real paths of
the other students, the CSV and the feedback folder into their code): isolation must hold without
secrecy. tests/deliberate_errors.md lists the mutations of the grader that each test was seen to catch.
"""
import csv
import os
import secrets
import socket
import threading
from pathlib import Path

import nbformat
import pytest

from course_lib import grade, grade_sandbox

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "notebooks" / "exercises" / "solutions" / "07_tv_loss.ipynb"
LIMITS = grade.Limits(cell_s=4, notebook_s=15, memory_mb=500, output_kb=16, notebook_mb=2, processes=48)
MARKER = "grade-hostile-" + secrets.token_hex(4)       # in the argv of every process an attack leaves behind
SECRET = "secret-" + secrets.token_hex(8)               # in the grader's environment only
UNSOLVED = "def tv_loss(x):\n    raise NotImplementedError\n"
WRONG = "def tv_loss(x):\n    return ((x[..., 1:] - x[..., :-1]) ** 2).mean()\n"
FORMULA = '=HYPERLINK("evil.example";"click")'


def tv_notebook(tv_loss=None, before=(), after=()):
    """Notebook 07 with its tv_loss cell replaced (None: the solution) and code cells around it."""
    nb = nbformat.read(SOLUTION, as_version=4)
    nb.cells = [c for c in nb.cells if "solution-only" not in c.metadata.get("tags", [])]
    for cell in nb.cells:
        if cell.cell_type == "code" and "def tv_loss(" in cell.source and tv_loss is not None:
            cell.source = tv_loss
    nb.cells = ([nbformat.v4.new_code_cell(s) for s in before] + nb.cells
                + [nbformat.v4.new_code_cell(s) for s in after])
    return nbformat.writes(nb)


def attacks(paths, port):
    """{student: notebook text}; ``paths`` are the grader's real folders, ``port`` a listening TCP port."""
    out, feedback, submissions = paths["out"], paths["feedback"], paths["submissions"]
    forge = f"""import json, os, socket, struct
open('result.json', 'w').write(json.dumps({{"notebook": "07_tv_loss.ipynb", "tasks": {{"tv_loss": {{"points": 1}}}}}}))
frame = json.dumps({{"op": "ran", "problems": [], "tasks": {{"tv_loss": "function"}}, "points": {{"tv_loss": 1}}}}).encode()
for fd in range(3, 64):      # every socket it holds: one of them goes to the grader
    try:
        if os.readlink(f"/proc/self/fd/{{fd}}").startswith("socket:"):
            socket.socket(fileno=fd).sendall(struct.pack(">II", len(frame), 0) + frame)
    except OSError:
        pass
os._exit(0)
"""
    daemon = f"""import os, subprocess, time
script = "while :; do echo '{MARKER},2,2,2,1,1,3,1,12,' >> {out}; echo 'x,12' >> {out}; sleep 0.2; done"
subprocess.Popen(["/bin/sh", "-c", script, "{MARKER}"], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if os.fork() == 0:                       # the double fork of a daemon, in Python
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sh", ["/bin/sh", "-c", script, "{MARKER}"])
    os._exit(0)
time.sleep(0.5)
"""
    network = f"""import subprocess, sys, _socket
for code in ["import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)",
             "import socket; socket.create_connection(('localhost', {port}), timeout=2)"]:
    subprocess.run([sys.executable, "-c", code], timeout=5)
s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)   # below the socket module's patches
s.settimeout(2)
s.connect(("127.0.0.1", {port}))
"""
    snoop = f"""import glob, json
friend = json.load(open("{submissions}/a_honest/07_tv_loss.ipynb"))
exec("".join(next(c["source"] for c in friend["cells"] if "def tv_loss(" in "".join(c["source"]))))
"""
    spy = f"""import glob
seen = glob.glob("{submissions}/*") + glob.glob("{feedback}/*") + glob.glob("{out}*") + glob.glob("/root/*")
if seen:
    raise RuntimeError("SEEN " + " ".join(seen))
"""
    patch = """import builtins, torch, course_lib.exercises as ex
ex.check_tv_loss = ex.check = lambda *a, **k: True
ex._compare = lambda *a, **k: None
torch.allclose = lambda *a, **k: True
torch.Tensor.__sub__ = lambda a, b: torch.zeros_like(a)
builtins.isinstance = lambda *a: True
"""
    environ = f"""import glob
found = []
for path in ["/proc/self/environ", "/proc/1/environ"] + glob.glob("/proc/*/environ"):
    try:
        text = open(path, "rb").read().decode(errors="replace")
    except OSError:
        continue
    found += [part for part in text.split("\\0") if "GRADER_TEST_SECRET" in part]
if found:
    raise RuntimeError("LEAKED " + " ".join(found))
"""
    fork_bomb = f"""import os, time
children = 0
for _ in range(200):
    pid = os.fork()
    if pid == 0:
        os.execv("/bin/sleep", ["{MARKER}", "600"])
    children += 1
"""
    sparse = "with open('big.bin', 'wb') as f:\n    f.seek(10 * 2**30)\n    f.write(b'x')\n"
    alarm = "import signal\nsignal.alarm(0)\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass\n"
    exit_hooks = """import atexit
atexit.register(lambda: exec("while True: pass"))
class Stuck:
    def __del__(self):
        while True:
            pass
stuck = Stuck()
del stuck
"""
    return {
        "a_honest": tv_notebook(),
        "b_forged_verdict": tv_notebook(UNSOLVED, after=[forge]),
        "c_daemon_rewrites_csv": tv_notebook(UNSOLVED, after=[daemon]),
        "d_network": tv_notebook(UNSOLVED, after=[network]),
        "e_copies_a_friend": tv_notebook(snoop),
        "f_lists_folders": tv_notebook(after=[spy]),
        "g_patches_checkers": tv_notebook(WRONG, after=[patch]),
        "h_reads_environ": tv_notebook(after=[environ]),
        "i_fork_bomb": tv_notebook(after=[fork_bomb]),
        "j_sparse_10gb": tv_notebook(after=[sparse]),
        "k_alarm_off": tv_notebook(UNSOLVED, after=[alarm]),
        "l_exit_hooks": tv_notebook(after=[exit_hooks]),
        FORMULA: tv_notebook(),
    }


#            student                   07 points   words its `problems` must contain
EXPECTED = {"a_honest":                (1, []),
            # "(exit code 0)" when its os._exit wins the race with the grader's kill, "(signal 9)" under load
            "b_forged_verdict":        (0, ["ended unexpectedly"]),
            "c_daemon_rewrites_csv":   (0, []),
            "d_network":               (0, ["raised", "Error"]),
            "e_copies_a_friend":       (0, ["FileNotFoundError"]),
            "f_lists_folders":         (1, []),
            "g_patches_checkers":      (0, []),
            "h_reads_environ":         (1, []),
            "i_fork_bomb":             (1, ["BlockingIOError"]),
            "j_sparse_10gb":           (1, ["File too large"]),
            "k_alarm_off":             (0, ["ran longer than 15 s in all"]),
            "l_exit_hooks":            (1, []),
            FORMULA:                   (0, ["not graded: the folder name"])}


def _leftovers():
    """Processes anywhere on the machine whose argv carries the marker."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if MARKER.encode() in (proc / "cmdline").read_bytes():
                found.append(proc.name)
        except OSError:
            pass
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    if grade_sandbox.choose(trusted=False) == "none":
        pytest.fail("no sandbox")
    root = tmp_path_factory.mktemp("hostile")
    paths = {"submissions": root / "submissions", "out": root / "grades.csv", "feedback": root / "grades_feedback"}
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    connections, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                connections.append(server.accept())
            except OSError:
                pass
    listener = threading.Thread(target=accept, daemon=True)
    listener.start()
    os.environ["GRADER_TEST_SECRET"] = SECRET
    try:
        for student, text in attacks(paths, server.getsockname()[1]).items():
            (paths["submissions"] / student).mkdir(parents=True)
            (paths["submissions"] / student / "07_tv_loss.ipynb").write_text(text, encoding="utf-8")
        log = []
        rows = grade.grade(paths["submissions"], paths["out"], seed=7, limits=LIMITS, jobs=2, log=log.append)
        leftovers = _leftovers()
    finally:
        del os.environ["GRADER_TEST_SECRET"]
        stop.set()
        listener.join()
        server.close()
    yield paths, rows, log, leftovers, connections
    for pid in _leftovers():             # never leave an escaped process behind, even when a test fails
        os.kill(int(pid), 9)


@pytest.mark.parametrize("student", EXPECTED)
def test_each_attack_gets_only_what_it_solved(graded, student):
    paths, rows, _, _, _ = graded
    (row,) = [r for r in rows if r["student"] == student]
    points, words = EXPECTED[student]
    assert (row["07_tv_loss"], row["total"]) == (points, points), row["problems"]
    for w in words:
        assert w in row["problems"], row["problems"]


def test_the_csv_is_the_graders_alone(graded):
    paths, rows, _, _, _ = graded
    with open(paths["out"], newline="", encoding="utf-8") as f:
        table = list(csv.reader(f))
    assert [r[0] for r in table[1:]] == ["'" + FORMULA] + sorted(s for s in EXPECTED if s != FORMULA)
    total = table[0].index("total")
    assert [r[total] for r in table[1:]] == [str(EXPECTED[r[0].removeprefix("'")][0]) for r in table[1:]]
    assert MARKER not in paths["out"].read_text(encoding="utf-8")
    assert sorted(p.name for p in paths["feedback"].iterdir()) == sorted(f"{s}.txt" for s in EXPECTED if s != FORMULA)


def test_nothing_is_left_running(graded):
    assert graded[3] == []


def test_no_connection_reached_the_grading_machine(graded):
    assert graded[4] == []


def test_no_secret_and_no_other_folder_reached_a_notebook(graded):
    paths, rows, _, _, _ = graded
    everything = paths["out"].read_text(encoding="utf-8") + "".join(
        p.read_text(encoding="utf-8") for p in paths["feedback"].iterdir())
    assert SECRET not in everything and "LEAKED" not in everything and "SEEN" not in everything


def test_the_log_and_feedback_name_the_isolation(graded):
    paths, _, log, _, _ = graded
    assert log[0].startswith("isolation: ") and "no network" in log[0]
    assert "Isolation: " in (paths["feedback"] / "a_honest.txt").read_text(encoding="utf-8")
