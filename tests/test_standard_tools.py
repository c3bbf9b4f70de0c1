"""A lecturer's own tools run the lecture notebooks in lecture mode: ``jupyter nbconvert --execute``.

Plain nbclient (nbconvert, papermill) once waited out a whole cell timeout for each cell that drew
into an Output widget (see ``course_lib.notebook_runner``). The notebooks do not depend on the
course's runner for this: their ``LiveOutput`` widgets are filled by the kernel during the cell's
own run. So here stock nbconvert executes every notebook that has an Output widget, in lecture
mode (``QUICK`` False: the lecture-only cells run too), with ``COURSE_LIB_SMALL=1`` shrinking the
sizes only, under a wall limit of ``WALL_S`` per notebook. The Russian edition runs too: its
lecture-only cells are where a translated string once broke a dictionary lookup (notebook 04).
"""
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
WALL_S = 120   # per notebook, kernel start included; measured 20-70 s on a quiet 2-core machine
OUTPUT_WIDGET = ("LiveOutput()", "widgets.Output()")


def has_output_widget(path: Path) -> bool:
    return any(w in path.read_text(encoding="utf-8") for w in OUTPUT_WIDGET)


def branches_on_quick(path: Path) -> bool:
    nb = nbformat.read(path, as_version=4)
    return any("QUICK" in cell.source and "import" not in cell.source for cell in nb.cells if cell.cell_type == "code")


ENGLISH = [p for p in sorted((ROOT / "notebooks").glob("0*.ipynb")) if has_output_widget(p)]
RUSSIAN = [p for p in sorted((ROOT / "notebooks" / "ru").glob("0*.ipynb")) if branches_on_quick(p)]


def lecture_env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("COURSE_LIB_QUICK", "MPLBACKEND")}  # inline, as in class
    env.update(COURSE_LIB_SMALL="1", COURSE_LIB_OFFLINE="1", COURSE_LIB_TESTING="1",
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               TORCH_HOME=str(tmp_path / "torch-home"))       # nothing cached: the bundled network throughout
    return env


def test_every_lecture_notebook_with_an_output_widget_is_covered():
    assert len(ENGLISH) == len(list((ROOT / "notebooks").glob("0*.ipynb"))) >= 8
    plain = [p.name for p in ENGLISH if "widgets.Output()" in p.read_text(encoding="utf-8")]
    assert not plain, f"use course_lib.display.LiveOutput, which headless runners never wait on: {plain}"
    assert [p.name for p in RUSSIAN] == ["04_class_visualization_deepdream.ipynb"]


@pytest.mark.parametrize("path", ENGLISH + RUSSIAN, ids=lambda p: str(p.relative_to(ROOT / "notebooks")))
def test_nbconvert_executes_the_notebook_in_lecture_mode(path, tmp_path):
    command = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", str(path),
               "--output-dir", str(tmp_path), f"--ExecutePreprocessor.timeout={WALL_S}"]
    start = time.monotonic()
    try:
        run = subprocess.run(command, env=lecture_env(tmp_path), capture_output=True, text=True, timeout=WALL_S + 30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"nbconvert still ran {WALL_S + 30} s after it started on {path.name}")
    seconds = time.monotonic() - start
    assert run.returncode == 0, f"{path.name}:\n{run.stderr[-3000:]}"
    executed = nbformat.read(tmp_path / path.name, as_version=4)
    state = executed.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    outputs = [m["state"].get("outputs", []) for m in state.values() if m["model_name"] == "OutputModel"]
    assert outputs and all(outputs), f"{path.name}: every Output widget shows its first picture without a browser"
    assert any("image/png" in o.get("data", {}) for out in outputs for o in out), "inline backend: figures are PNGs"
    if path.name.startswith("01_"):   # the slide's AlexNet is not cached: the notebook says which net it uses
        text = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []))
        assert "Network: the bundled efficientnet_lite0 (alexnet not cached" in text
    assert seconds < WALL_S, f"{path.name} took {seconds:.0f} s in lecture mode at small sizes (limit {WALL_S} s)"
