"""tools/gallery.py on two tiny notebooks: one with widgets, one that fails."""
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from PIL import Image

from tests.support import write_notebook
from tools import gallery

ROOT = Path(__file__).resolve().parents[1]

WIDGET_CELL = """\
import ipywidgets as widgets
from IPython.display import display
from PIL import Image
size = widgets.IntSlider(value=40, min=8, max=64, description='size')
pick = widgets.Dropdown(options=['red', 'blue'], value='blue', description='colour')
out = widgets.Output()
with out:
    display(Image.new('RGB', (size.value, 20), pick.value))
display(widgets.VBox([widgets.HBox([size, pick]), out]))"""


def tags(page: str) -> list:
    """(tag, attributes) of every start tag in an HTML page."""
    found = []
    parser = HTMLParser()
    parser.handle_starttag = lambda tag, attrs: found.append((tag, dict(attrs)))
    parser.feed(page)
    return found


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gallery")
    ok = write_notebook(tmp / "01_ok.ipynb", "x = 1", WIDGET_CELL, heading="# Tiny widgets")
    bad = write_notebook(tmp / "02_bad.ipynb", "raise ValueError('broken on purpose')", heading="# Tiny widgets")
    status = gallery.main(["--quick", "--out", str(tmp / "out"), str(ok), str(bad)])
    return tmp / "out", status


def test_gallery_reports_the_failed_notebook(built, capsys):
    out, status = built
    assert status == 1
    index = (out / "index.html").read_text()
    assert "failed: 02_bad.ipynb cell 1: ValueError: broken on purpose" in index
    assert (out / "02_bad.html").exists()


def test_index_has_a_thumbnail_and_link_per_notebook(built):
    out, _ = built
    index = (out / "index.html").read_text()
    assert 'href="01_ok.html"' in index and 'href="02_bad.html"' in index
    assert "Tiny widgets" in index
    thumb = Image.open(out / "thumbs" / "01_ok.png")
    assert thumb.size == (40, 20) and thumb.getpixel((0, 0)) == (0, 0, 255)
    assert not (out / "thumbs" / "02_bad.png").exists()


def test_widgets_get_static_fallbacks_from_stored_state(built):
    out, _ = built
    executed = nbformat.read(out / "01_ok.ipynb", as_version=4)
    assert gallery.widget_models(executed), "the executed notebook keeps its widget state"
    page = (out / "01_ok.html").read_text()
    assert gallery.WIDGET_VIEW not in page, "no widget needs JavaScript to show"
    static = page.split('<div class="widget-static">')
    assert len(static) == 2, "one static fallback for the one widget output"
    found = tags(static[1])
    slider = [a for t, a in found if t == "input" and a.get("type") == "range"]
    assert slider == [{"type": "range", "disabled": "", "min": "8", "max": "64", "step": "1", "value": "40"}]
    assert "<label>size</label>" in static[1] and "<label>colour</label>" in static[1]
    assert re.search(r'<option selected(="")?>blue</option>', static[1]), "the dropdown shows its value"
    images = [a["src"] for t, a in found if t == "img"]
    assert len(images) == 1 and images[0].startswith("data:image/png;base64,")


def test_closed_and_hidden_widgets_render_nothing():
    models = {"a": {"model_name": "IntSliderModel", "state": {"layout": "IPY_MODEL_l", "value": 1}},
              "l": {"model_name": "LayoutModel", "state": {"display": "none"}}}
    assert gallery.render_widget("a", models) == ""
    assert gallery.render_widget("gone", models) == ""


# ---- timings (the runner's own guards: tests/test_notebook_runner.py) ----------------------

def test_cell_timing_flags_an_idle_cell():
    assert gallery.CellTime(3, wall_s=300.0, cpu_s=2.0, kernel_s=299.0).idle()     # e.g. a slow download
    assert not gallery.CellTime(3, wall_s=43.0, cpu_s=8.4, kernel_s=42.0).idle()   # 00 cell 1 at load 10
    assert not gallery.CellTime(3, wall_s=159.0, cpu_s=34.0, kernel_s=158.0).idle()  # 03 cell 19 at load 15
    assert not gallery.CellTime(3, wall_s=62.0, cpu_s=40.0, kernel_s=61.0).idle()  # busy, on a loaded machine
    assert not gallery.CellTime(3, wall_s=62.0, cpu_s=None, kernel_s=None).idle()  # no /proc: unknown


def test_problems_lists_failures_and_idle_cells():
    cell = lambda i, wall, cpu: {"index": i, "wall_s": wall, "cpu_s": cpu, "kernel_s": wall}  # noqa: E731
    timings = {"03.ipynb": {"seconds": 80, "error": None, "cells": [cell(1, 20, 19), cell(14, 302, 2)]},
               "04.ipynb": {"seconds": 300, "error": "04.ipynb cell 5: CellTimeoutError: ...", "cells": []},
               "05.ipynb": {"seconds": 30, "error": None, "cells": [cell(2, 25, 24)]}}
    assert gallery.problems(timings) == ["04.ipynb: 04.ipynb cell 5: CellTimeoutError: ...",
                                         "03.ipynb cell 14: 302 s wall but only 2 s CPU"]


@pytest.mark.skipif(os.environ.get("COURSE_LIB_SLOW") != "1",
                    reason="slow (every notebook in lecture mode: many minutes): set COURSE_LIB_SLOW=1")
def test_the_lecture_mode_gallery_builds(tmp_path):
    """The README's ./run.sh gallery: no notebook fails, times out, stalls, or idles in a cell."""
    status = gallery.main(["--out", str(tmp_path)])
    timings = json.loads((tmp_path / "timings.json").read_text())
    assert len(timings) == len(list((ROOT / "notebooks").glob("0*.ipynb")))
    assert gallery.problems(timings) == [] and status == 0
