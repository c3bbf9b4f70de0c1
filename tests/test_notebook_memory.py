"""tools/notebook_memory.py: a notebook's peak RSS, measured in a fresh kernel."""
from tests.support import write_notebook
from tools import notebook_memory


def test_peak_rss_grows_with_what_the_notebook_holds(tmp_path):
    small = write_notebook(tmp_path / "small.ipynb", "x = 1")
    big = write_notebook(tmp_path / "big.ipynb", "%matplotlib inline\nblock = bytearray(300 * 2**20)\nblock[::4096] = b'1' * len(block[::4096])")
    a = notebook_memory.measure(small, quick=True)
    b = notebook_memory.measure(big, quick=True)
    assert 0 < a["peak_rss_mb"] and a["seconds"] >= 0
    assert 280 < b["peak_rss_mb"] - a["peak_rss_mb"] < 360, (a, b)


def test_a_failing_cell_is_reported_with_its_index(tmp_path):
    bad = write_notebook(tmp_path / "bad.ipynb", "x = 1", "raise ValueError('on purpose')")
    result = notebook_memory.measure(bad, quick=True)
    assert "bad.ipynb cell 1: ValueError: on purpose" in result["error"], result
