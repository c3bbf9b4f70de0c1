"""The quick-mode switches, read once when course_lib.config is imported (reloaded here under each setting)."""
import importlib

import pytest

import course_lib.config as config


@pytest.fixture
def reload_with(monkeypatch):
    def reload(**env):
        for name in ("COURSE_LIB_QUICK", "COURSE_LIB_SMALL"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return importlib.reload(config)
    yield reload
    monkeypatch.undo()
    importlib.reload(config)          # back to this process's own setting


@pytest.mark.parametrize("env, quick, small", [
    ({"COURSE_LIB_QUICK": "1"}, True, True),
    ({"COURSE_LIB_QUICK": ""}, False, False),
    ({"COURSE_LIB_QUICK": "0"}, False, False),
    ({"COURSE_LIB_SMALL": "yes"}, False, True),       # lecture mode at quick sizes
    ({}, False, False),
])
def test_quick_mode_switches(reload_with, env, quick, small):
    c = reload_with(**env)
    assert (c.QUICK, c.SMALL) == (quick, small)
    assert c.lecture_or_quick("lecture", "quick") == ("quick" if small else "lecture")
