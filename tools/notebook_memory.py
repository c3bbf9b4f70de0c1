"""Peak memory of each lecture notebook in lecture mode: Binder gives about 2 GB, keep under 1.5 GB.

    python tools/notebook_memory.py                     # every notebooks/0*.ipynb, lecture mode
    python tools/notebook_memory.py --quick notebooks/00_tour.ipynb

Each notebook runs in a fresh Python process that executes its code cells in an IPython
shell (inline matplotlib, widgets without a browser; widget callbacks run because every
notebook calls each one once), so the process's peak resident set size is the notebook's.
Measured on 00_tour in quick mode this way: 1383 MB; in a real Jupyter kernel: 1378 MB.
``benchmarks/bench_notebooks.py`` uses ``run_notebook`` for its rows.
"""
import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the repo's packages come first

from benchmarks.harness import peak_rss_mb  # noqa: E402  (VmHWM: this process's own peak)
LIMIT_MB = 1500


class NotebookError(RuntimeError):
    """A cell of the notebook raised; the message names the cell."""


def run_notebook(path: Path) -> float:
    """Execute the notebook's code cells in this process (cwd = its folder); returns seconds.

    Quick or lecture mode is whatever ``COURSE_LIB_QUICK`` said when course_lib was imported.
    """
    import nbformat
    from IPython.core.interactiveshell import InteractiveShell

    class Shell(InteractiveShell):
        def enable_gui(self, gui=None):   # no event loop: `%matplotlib inline` needs none
            pass

    nb = nbformat.read(path, as_version=4)
    shell = Shell.instance()
    previous = os.getcwd()
    os.chdir(path.parent)
    start = time.perf_counter()
    try:
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            shell.run_line_magic("matplotlib", "inline")      # as in a kernel: figures closed after each cell
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                result = shell.run_cell(cell.source, store_history=True)
                if not result.success and "raises-exception" not in cell.metadata.get("tags", []):
                    error = result.error_in_exec or result.error_before_exec
                    raise NotebookError(f"{path.name}, cell {index}: {type(error).__name__}: {error}")
    finally:
        os.chdir(previous)
    return time.perf_counter() - start


def measure_in_child(path: Path, quick: bool) -> dict:
    """Run one notebook in a fresh process; {'seconds', 'peak_rss_mb'} or {'error'}."""
    env = {k: v for k, v in os.environ.items() if k not in ("COURSE_LIB_QUICK", "MPLBACKEND")}
    if quick:
        env["COURSE_LIB_QUICK"] = "1"
    out = subprocess.run([sys.executable, __file__, "--child", str(path)], capture_output=True, text=True, env=env)
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(lines[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/0*.ipynb")
    parser.add_argument("--quick", action="store_true", help="quick mode instead of lecture mode")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        seconds = run_notebook(args.notebooks[0].resolve())
        print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_rss_mb()}))
        return 0
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("0*.ipynb"))
    mode = "quick" if args.quick else "lecture"
    print(f"{'notebook (' + mode + ' mode)':<32} {'seconds':>8} {'peak RSS MB':>12}  limit {LIMIT_MB} MB")
    bad = 0
    for path in notebooks:
        r = measure_in_child(path.resolve(), args.quick)
        if "error" in r:
            bad += 1
            print(f"{path.name:<32} {'ERROR':>8}  {r['error'][:80]}", flush=True)
            continue
        over = r["peak_rss_mb"] > LIMIT_MB
        bad += over
        print(f"{path.name:<32} {r['seconds']:>8.1f} {r['peak_rss_mb']:>12.0f}  {'OVER' if over else 'ok'}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
