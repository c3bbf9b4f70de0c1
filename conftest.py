"""Every pytest run (tests/ and nbval on notebooks/) is a test run: ``course_lib.display.readable_errors``
then re-raises errors that are not declared demonstrations, so a broken widget callback fails its cell.
Set here, before nbval starts a kernel, so the kernels inherit it; ``./run.sh test`` sets it too."""
import os
import sys

os.environ.setdefault("COURSE_LIB_TESTING", "1")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tests"))
pytest_plugins = ["suite_budget"]   # CI: the whole suite's time budget (tests/suite_budget.py)
