"""One lecture notebook under nbval with matplotlib's inline backend, as JupyterLab runs it.

``./run.sh test`` exports ``MPLBACKEND=Agg`` for speed, so there ``plt.show()`` displays
nothing and no figure reaches an ``Output`` widget. Here notebook 03 (its widget callbacks
clear an Output widget and draw into it, the pattern of issue 12) runs with the kernel's
default, inline backend. The lecture-mode hang itself was in nbclient, which nbval does not
use: tests/test_gallery.py::test_output_widget_callbacks_do_not_stall covers that.
"""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_notebook_03_passes_nbval_with_the_inline_backend(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env.update(COURSE_LIB_QUICK="1", PYTHONPATH=str(ROOT))
    probe = tmp_path / "probe.ipynb"           # the kernel nbval starts really gets the inline backend
    probe.write_text('{"cells": [{"cell_type": "code", "execution_count": null, "id": "p", "metadata": {}, '
                     '"outputs": [], "source": "import matplotlib\\nassert matplotlib.get_backend().endswith('
                     '\\"backend_inline\\"), matplotlib.get_backend()"}], "metadata": {}, "nbformat": 4, '
                     '"nbformat_minor": 5}')
    run = subprocess.run([sys.executable, "-m", "pytest", str(probe), str(ROOT / "notebooks" / "03_deconvnet.ipynb"),
                          "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider", "-q"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
