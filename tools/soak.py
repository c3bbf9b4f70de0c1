"""Flakiness check: the README's test command, several times in a row, in a clean clone without ../shared.

    ./run.sh soak            # 3 runs, torch threads 1, 2, 1, two pytest workers each, as CI
    ./run.sh soak 5 -x       # 5 runs; arguments after the count go to pytest

A test that passes on one run and fails on the next teaches everyone to rerun until green; this
finds it before CI does. The clone (of the last commit: commit first) lies in a temporary folder
with nothing beside it, and reuses this checkout's venv (``COURSE_VENV``) so that torch is not
installed again; each run gets its own ``OMP_NUM_THREADS`` and the same ``COURSE_SUITE_BUDGET_S``
as CI, so a run over 10 minutes fails too. Prints one line per run and exits 1 if any failed.
"""
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    runs = int(argv[0]) if argv and argv[0].isdigit() else 3
    extra = argv[1:] if argv and argv[0].isdigit() else argv
    home = Path(tempfile.mkdtemp(prefix="soak-"))
    clone = home / "nn-art"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    results = []
    for i in range(runs):
        threads = 1 if i % 2 == 0 else 2
        env = {k: v for k, v in os.environ.items() if k not in ("COURSE_LIB_QUICK", "PYTHONPATH", "VIRTUAL_ENV")}
        # 2 torch threads in each of 2 pytest workers ask 4 threads of a 2-core machine: fine because run.sh
        # makes waiting OpenMP threads sleep (OMP_WAIT_POLICY=PASSIVE; spinning, a run took over 16 minutes)
        env.update(COURSE_VENV=str(Path(sys.prefix)), OMP_NUM_THREADS=str(threads), CI="true",
                   COURSE_SUITE_START=str(int(time.time())), COURSE_SUITE_BUDGET_S="600")
        start = time.monotonic()
        run = subprocess.run(["./run.sh", "test", *extra], cwd=clone, env=env, capture_output=True, text=True)
        (home / f"run{i + 1}.log").write_text(run.stdout + run.stderr)
        summary = next((line.strip("= ") for line in reversed(run.stdout.splitlines())
                        if re.search(r"\d+ (passed|failed)", line)), "no summary")
        results.append(run.returncode == 0)
        print(f"run {i + 1}/{runs}, {threads} thread(s): {'ok' if run.returncode == 0 else 'FAILED'} "
              f"in {time.monotonic() - start:.0f} s: {summary}  ({home / f'run{i + 1}.log'})", flush=True)
    print(f"{sum(results)} of {runs} runs passed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
