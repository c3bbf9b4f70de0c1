"""tools/notebook_memory.py: a notebook's peak RSS, measured in a fresh kernel."""
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tools import notebook_memory  # noqa: E402


def notebook(path: Path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


def test_peak_rss_grows_with_what_the_notebook_holds(tmp_path):
    small = notebook(tmp_path / "small.ipynb", "x = 1")
    big = notebook(tmp_path / "big.ipynb", "%matplotlib inline\nblock = bytearray(300 * 2**20)\nblock[::4096] = b'1' * len(block[::4096])")
    a = notebook_memory.measure(small, quick=True)
    b = notebook_memory.measure(big, quick=True)
    assert 0 < a["peak_rss_mb"] and a["seconds"] >= 0
    assert 280 < b["peak_rss_mb"] - a["peak_rss_mb"] < 360, (a, b)


def test_a_failing_cell_is_reported_with_its_index(tmp_path):
    bad = notebook(tmp_path / "bad.ipynb", "x = 1", "raise ValueError('on purpose')")
    result = notebook_memory.measure(bad, quick=True)
    assert "bad.ipynb cell 1: ValueError: on purpose" in result["error"], result
