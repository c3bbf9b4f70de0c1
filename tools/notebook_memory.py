"""Peak memory of each lecture notebook in lecture mode: Binder gives about 2 GB, keep under 1.5 GB.

    python tools/notebook_memory.py                     # every notebooks/0*.ipynb, lecture mode
    python tools/notebook_memory.py --quick notebooks/00_tour.ipynb

Each notebook runs in a fresh kernel through ``course_lib.notebook_runner`` (the one headless
runner); the kernel process's peak resident set size (VmHWM) is the notebook's.
"""
import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: this checkout's course_lib first

from course_lib.notebook_runner import run_notebook  # noqa: E402

LIMIT_MB = 1500


def measure(path: Path, quick: bool) -> dict:
    """Run one notebook in a fresh kernel; {'seconds', 'peak_rss_mb'} or {'error'} naming the cell."""
    run = run_notebook(path, quick=quick, check=False)
    if run.error:
        return {"error": run.error}
    return {"seconds": run.seconds, "peak_rss_mb": run.peak_rss_mb}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/0*.ipynb")
    parser.add_argument("--quick", action="store_true", help="quick mode instead of lecture mode")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("0*.ipynb"))
    mode = "quick" if args.quick else "lecture"
    print(f"{'notebook (' + mode + ' mode)':<32} {'seconds':>8} {'peak RSS MB':>12}  limit {LIMIT_MB} MB")
    bad = 0
    for path in notebooks:
        r = measure(path.resolve(), args.quick)
        if "error" in r:
            bad += 1
            print(f"{path.name:<32} {'ERROR':>8}  {r['error'][:100]}", flush=True)
            continue
        over = r["peak_rss_mb"] > LIMIT_MB
        bad += over
        print(f"{path.name:<32} {r['seconds']:>8.1f} {r['peak_rss_mb']:>12.0f}  {'OVER' if over else 'ok'}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
