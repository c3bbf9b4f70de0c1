"""Quick mode: one switch that shrinks every default for tests.

Set ``COURSE_LIB_QUICK=1`` before importing ``course_lib`` and every technique's
defaults (image sizes, iteration counts) become small, so the whole notebook
suite runs in minutes under nbval. Unset, the defaults are lecture quality.

``COURSE_LIB_SMALL=1`` shrinks the same defaults but keeps lecture mode otherwise
(``QUICK`` stays False): the lecture-only cells run, at quick-mode sizes. Tests use it
to run what only the lecture runs; a claim that needs lecture sizes checks ``SMALL``.
"""
import os

import torch


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


QUICK = _flag("COURSE_LIB_QUICK")
SMALL = QUICK or _flag("COURSE_LIB_SMALL")    # quick-mode sizes, with or without quick mode


def lecture_or_quick(lecture, quick):
    """The lecture-quality value, or the small one in quick mode (or with ``COURSE_LIB_SMALL``)."""
    return quick if SMALL else lecture


def resolve_device(device="auto") -> torch.device:
    """'auto' means CUDA when present, else CPU; anything else is passed to torch."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def testing() -> bool:
    """True under the test suite: ``COURSE_LIB_TESTING=1`` (set by ``./run.sh test`` and the root conftest.py)."""
    return _flag("COURSE_LIB_TESTING")
