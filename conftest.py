"""Every pytest run (tests/ and nbval on notebooks/) is a test run: ``course_lib.display.readable_errors``
then re-raises errors that are not declared demonstrations, so a broken widget callback fails its cell.
Set here, before nbval starts a kernel, so the kernels inherit it; ``./run.sh test`` sets it too."""
import os

os.environ.setdefault("COURSE_LIB_TESTING", "1")
