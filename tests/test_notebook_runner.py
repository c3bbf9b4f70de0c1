"""course_lib.notebook_runner: the one headless runner, and the Output widget that needs none.

The hang these tests guard against: a cell that writes a large figure into an Output widget
made nbclient wait out the whole cell timeout for a reply that had already arrived (a zmq
wake-up consumed by the widget stand-in's echo). Each test here fails with the old client.
"""
import ast
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course_lib.notebook_runner import CellTime, NotebookRunError, run_notebook
from tests.support import write_notebook

ROOT = Path(__file__).resolve().parents[1]

# a lecture-like widget cell: a busy callback, then a big figure into an Output widget
FIGURE_SETUP = """\
%matplotlib inline
import time
import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

def busy(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
"""
FIGURE_CELL = """\
seed = widgets.IntSlider(value=0, description='seed')
out = {output}

def redraw(change=None):
    out.clear_output(wait=True)
    busy(0.5)
    with out:
        fig, ax = plt.subplots(figsize=(8, 6))
        ax.imshow(np.random.default_rng(seed.value).random((600, 800, 3)))
        plt.show()
seed.observe(redraw, names="value")
display(widgets.VBox([seed, out]))
redraw()"""


def widget_outputs(run) -> list:
    state = run.nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    return [m["state"]["outputs"] for m in state.values() if m["model_name"] == "OutputModel"]


def test_plain_output_widgets_do_not_stall_the_runner(tmp_path):
    """ipywidgets.Output filled through the front end's capture (what a browser does)."""
    cell = FIGURE_CELL.format(output="widgets.Output()")
    closed = "preview = widgets.IntSlider(description='preview')\ndisplay(preview)\npreview.close()"
    run = run_notebook(write_notebook(tmp_path / "plain.ipynb", FIGURE_SETUP, cell, cell, cell, closed), quick=False,
                       timeout=60, store_widget_state=True)
    for c in run.cells:
        assert c.problem() is None and c.wall_s < 30, c       # the hang waited the whole 60 s
    assert [len(o) for o in widget_outputs(run)] == [1, 1, 1], "each Output widget holds its figure"
    state = run.nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    sliders = [m for m in state.values() if m["model_name"] == "IntSliderModel"]
    assert len(sliders) == 3, "a widget the kernel closed is gone, as in a browser"


def test_live_output_is_filled_by_the_kernel_in_the_cell_run(tmp_path):
    """LiveOutput: no echo at all, so plain nbclient (nbconvert, papermill) cannot stall on it."""
    cell = FIGURE_CELL.format(output="LiveOutput()")
    setup = FIGURE_SETUP + "from course_lib.display import LiveOutput\n"
    run = run_notebook(write_notebook(tmp_path / "live.ipynb", setup, cell, cell), quick=False, timeout=60,
                       store_widget_state=True)
    outputs = widget_outputs(run)
    assert [len(o) for o in outputs] == [1, 1]
    assert all("image/png" in o[0]["data"] for o in outputs), "the figure is inside the widget"


def test_live_output_keeps_print_order_clears_and_shows_errors(tmp_path):
    cells = ["from course_lib.live_output import LiveOutput\nfrom IPython.display import display, HTML\nout = LiveOutput()",
             "with out:\n    print('a')\n    display(HTML('<b>b</b>'))\n    print('c')",
             "with out:\n    print('kept')",
             "out.clear_output(wait=True)\nwith out:\n    print('after clear')",
             "with out:\n    raise ValueError('shown, not raised')\nprint('cell went on')",
             "texts = [o.get('text', o.get('data', {}).get('text/html', o.get('evalue'))) for o in out.outputs]\nprint(texts)"]
    run = run_notebook(write_notebook(tmp_path / "order.ipynb", *cells), quick=True, env={"COURSE_LIB_TESTING": "0"})
    assert "cell went on" in run.text()
    assert "['after clear\\n', 'shown, not raised']" in run.text(), run.text()


def test_under_test_an_error_inside_live_output_fails_the_cell(tmp_path):
    cells = ["from course_lib.live_output import LiveOutput\nout = LiveOutput()",
             "with out:\n    raise ValueError('broken callback')"]
    with pytest.raises(NotebookRunError, match=r"broken.ipynb cell 1: ValueError: broken callback"):
        run_notebook(write_notebook(tmp_path / "broken.ipynb", *cells), quick=True, env={"COURSE_LIB_TESTING": "1"})


def test_errors_and_timeouts_name_the_notebook_and_the_cell(tmp_path):
    path = write_notebook(tmp_path / "05_slow.ipynb", "x = 1", "import time\ntime.sleep(60)")
    start = time.perf_counter()
    run = run_notebook(path, quick=True, timeout=2, check=False)
    assert time.perf_counter() - start < 40
    assert run.error == "05_slow.ipynb cell 1: CellTimeoutError: still running after the 2 s allowed per cell"
    with pytest.raises(NotebookRunError, match="05_slow.ipynb cell 1: CellTimeoutError"):
        run_notebook(path, quick=True, timeout=2)


def test_a_stalled_cell_is_an_error():
    assert CellTime(3, wall_s=62.0, cpu_s=2.0, kernel_s=1.9).problem().startswith("stalled")
    assert CellTime(3, wall_s=20.0, cpu_s=19.0, kernel_s=19.5).problem() is None


def test_the_kernel_gets_quick_mode_and_this_checkout(tmp_path):
    code = "import os, course_lib, course_lib.config as c\nprint(c.QUICK, c.SMALL, os.path.dirname(course_lib.__file__))"
    path = write_notebook(tmp_path / "mode.ipynb", code)
    assert run_notebook(path, quick=True).text().split() == ["True", "True", str(ROOT / "course_lib")]
    assert run_notebook(path, quick=False).text().split()[:2] == ["False", "False"]
    small = run_notebook(path, quick=False, env={"COURSE_LIB_SMALL": "1"}).text().split()
    assert small[:2] == ["False", "True"], "small sizes, lecture mode"


def _calls_notebook_client(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in ("NotebookClient", "CourseNotebookClient"):
                return True
    return False


def test_nothing_but_the_runner_builds_a_notebook_client():
    files = [p for folder in ("tests", "tools", "benchmarks", "course_lib") for p in (ROOT / folder).rglob("*.py")]
    offenders = [str(p.relative_to(ROOT)) for p in files
                 if _calls_notebook_client(p) and p.name != "notebook_runner.py"]
    assert offenders == [], f"run notebooks through course_lib.notebook_runner.run_notebook: {offenders}"


def test_command_line_prints_a_row_per_notebook(tmp_path):
    ok = write_notebook(tmp_path / "ok.ipynb", "x = 1")
    bad = write_notebook(tmp_path / "bad.ipynb", "raise KeyError('k')")
    out = subprocess.run([sys.executable, "-m", "course_lib.notebook_runner", "--quick", str(ok), str(bad)],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 1
    assert "ok.ipynb" in out.stdout and "FAILED bad.ipynb cell 0: KeyError" in out.stdout, out.stdout
