"""Peak RSS of every lecture notebook executed in lecture mode (Binder: ~2 GB, keep under 1.5 GB).

Each row runs its notebook once, in ``make()``, inside the harness's own child process, so
the table's peak-RSS column is the notebook's. The time column is not the notebook's run
time (a lecture-mode notebook takes minutes, so these rows run once and only when named:
``python -m benchmarks notebook``); ``python tools/notebook_memory.py`` prints both.
"""
from pathlib import Path

from benchmarks.harness import Bench
from tools.notebook_memory import LIMIT_MB, run_notebook

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0*.ipynb"))


def _run_once(path: Path):
    def make():
        from course_lib import config

        if config.QUICK:
            raise RuntimeError("unset COURSE_LIB_QUICK: notebook memory is measured in lecture mode")
        run_notebook(path)
        return lambda: None

    return make


def benchmarks():
    return [Bench(f"notebook {path.stem} lecture run: peak RSS <= {LIMIT_MB} MB", "lecture",
                  _run_once(path), repeats=1, warmup=False, slow=True)
            for path in NOTEBOOKS]
