"""Every lecture notebook executed headless in lecture mode: its wall time and peak RSS.

Budgets (issue 12, on a 2-core CPU): every notebook <= 120 s, plus, for 07, its training
cell (300 steps of 2 crops) with a budget of its own, 120 s; the whole gallery <= 12 min,
peak RSS <= 1.5 GB per notebook (Binder gives about 2 GB).

Each row runs its notebook once (``repeats=1``: a lecture-mode run takes minutes) in a fresh
kernel through ``course_lib.notebook_runner`` (the one headless runner), widget callbacks
included (each notebook calls them once). The time column is that run's wall time (kernel
start-up included), the peak-RSS column the kernel's. These rows are slow: they run only when named,
``python -m benchmarks notebook``. ``./run.sh gallery`` prints the same notebooks' times
in a real kernel, per cell in ``build/gallery/timings.json``.
"""
from pathlib import Path

from benchmarks.harness import Bench
from course_lib.notebook_runner import run_notebook

LIMIT_MB = 1500   # Binder gives about 2 GB

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0*.ipynb"))
BUDGET_S = 120
BUDGET_S_BY_NOTEBOOK = {"07_fast_style_transfer": BUDGET_S + 120}   # + its training cell's own budget


def _run(path: Path):
    def make():
        from course_lib import config

        if config.QUICK:
            raise RuntimeError("unset COURSE_LIB_QUICK: notebooks are measured in lecture mode")
        return lambda: run_notebook(path, quick=False)

    return make


def benchmarks():
    return [Bench(f"notebook {path.stem} lecture run (RSS <= {LIMIT_MB} MB)", "lecture",
                  _run(path), repeats=1, warmup=False, slow=True,
                  floor_s=BUDGET_S_BY_NOTEBOOK.get(path.stem, BUDGET_S))
            for path in NOTEBOOKS]
