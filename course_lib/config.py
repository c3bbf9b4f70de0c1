"""Quick mode: one switch that shrinks every default for tests.

Set ``COURSE_LIB_QUICK=1`` before importing ``course_lib`` and every technique's
defaults (image sizes, iteration counts) become small, so the whole notebook
suite runs in minutes under nbval. Unset, the defaults are lecture quality.
"""
import os

import torch

QUICK = os.environ.get("COURSE_LIB_QUICK", "").strip().lower() in {"1", "true", "yes", "on"}


def lecture_or_quick(lecture, quick):
    """The lecture-quality value, or the small one in quick mode."""
    return quick if QUICK else lecture


def resolve_device(device="auto") -> torch.device:
    """'auto' means CUDA when present, else CPU; anything else is passed to torch."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
