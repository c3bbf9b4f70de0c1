import os
import subprocess
import sys

import pytest

CODE = "import course_lib.config as c; print(c.QUICK, c.lecture_or_quick('lecture', 'quick'))"


@pytest.mark.parametrize("value, expected", [("1", "True quick"), ("", "False lecture"), ("0", "False lecture")])
def test_quick_mode_switch(value, expected):
    env = {k: v for k, v in os.environ.items() if k != "COURSE_LIB_QUICK"}
    env["COURSE_LIB_QUICK"] = value
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected
