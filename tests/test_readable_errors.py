"""readable_errors: one red line in class, but never a hidden failure under test.

The notebook test proves it end to end: nbval, given a notebook whose widget callback raises, fails.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.display import expected_error, readable_errors
from course_lib.images import ImageError, load_image
from tests.support import write_notebook

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def shown(monkeypatch):
    """The HTML lines readable_errors displayed."""
    import IPython.display

    lines = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: lines.append(obj.data))
    return lines


@pytest.fixture
def in_class(monkeypatch):
    monkeypatch.setenv("COURSE_LIB_TESTING", "0")


@pytest.fixture
def under_test(monkeypatch):
    monkeypatch.setenv("COURSE_LIB_TESTING", "1")


def test_in_class_an_error_is_one_red_line(in_class, shown):
    with readable_errors():
        raise ValueError("channel 999 is out of range")
    assert len(shown) == 1 and "ValueError: channel 999 is out of range" in shown[0]
    with pytest.raises(TypeError):            # not a course_lib kind of error: the traceback stays
        with readable_errors():
            raise TypeError("a bug")


def test_under_test_an_undeclared_error_fails(under_test, shown):
    with pytest.raises(RuntimeError, match="broken callback"):
        with readable_errors():
            raise RuntimeError("broken callback")
    assert len(shown) == 1                    # still shown, for the browser test's red-line check


def test_a_declared_error_is_shown_and_must_come(under_test, shown):
    with readable_errors(expect=ImageError):
        load_image(b"not a picture")
    assert "ImageError" in shown[0]
    with pytest.raises(AssertionError, match="expected ImageError, but no error came"):
        with readable_errors(expect=ImageError):
            pass
    with pytest.raises(KeyError):             # another error than the declared one fails
        with readable_errors(expect=ImageError):
            raise KeyError("not the demonstration")
    with pytest.raises(ValueError):           # the declared kind, but not the declared message
        with readable_errors(expect=ValueError, match="out of range"):
            raise ValueError("something else")


def test_in_class_a_missing_demonstration_error_is_not_a_failure(in_class, shown):
    with readable_errors(expect=ImageError):
        pass
    assert shown == []


def test_expected_error_declares_the_error_of_a_widget_callback(under_test, shown):
    def callback(value):                      # what a notebook's observer does
        with readable_errors():
            if value > 31:
                raise ValueError(f"channel {value} is out of range")

    with expected_error(ValueError, match="out of range"):
        callback(32)
    assert "channel 32 is out of range" in shown[0]
    with pytest.raises(AssertionError, match="from a widget callback, but none came"):
        with expected_error(ValueError):
            callback(3)
    with pytest.raises(ValueError):           # outside the block the same error fails again
        callback(32)


# ---- end to end: nbval on a notebook whose widget callback raises -------------------------------

CALLBACK = """import ipywidgets as widgets
from course_lib.display import readable_errors, expected_error
out = widgets.Output()
def on_change(change=None):
    out.clear_output(wait=True)
    with out, readable_errors(out):
        {body}
picker = widgets.IntText(value=0)
picker.observe(on_change, names="value")
on_change()
"""


def test_nbval_fails_a_notebook_whose_widget_callback_raises(tmp_path):
    broken = write_notebook(tmp_path / "broken.ipynb", CALLBACK.format(body='raise RuntimeError("show_filters is broken")'))
    demo = write_notebook(tmp_path / "demo.ipynb",
                    CALLBACK.format(body='if picker.value > 31: raise ValueError("channel out of range")'),
                    'with expected_error(ValueError, match="out of range"):\n    picker.value = 32\npicker.value = 0')
    silent = write_notebook(tmp_path / "silent.ipynb", CALLBACK.format(body="pass"),
                      "with expected_error(ValueError):\n    picker.value = 5")
    env = {**os.environ, "COURSE_LIB_TESTING": "1", "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(broken), str(demo), str(silent), "--nbval-lax", "--nbval-current-env",
         "-p", "no:cacheprovider", "-q", "-rA", "--rootdir", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    report = result.stdout
    outcome = lambda name: [line.split()[0] for line in report.splitlines()  # noqa: E731
                            if line.startswith(("PASSED", "FAILED")) and f"{name}.ipynb" in line]
    assert outcome("broken") == ["FAILED"], report       # was PASSED: readable_errors swallowed it
    assert "show_filters is broken" in report
    assert outcome("demo") == ["PASSED", "PASSED"], report
    assert outcome("silent") == ["PASSED", "FAILED"], report   # the declared error never came
