import os
from pathlib import Path

import pytest
import torch

from course_lib import load_model

ROOT = Path(__file__).resolve().parents[1]
PAINTINGS = ROOT.parent / "shared" / "data" / "paintings"


@pytest.fixture(scope="session")
def model():
    """The bundled EfficientNet-Lite0 on the CPU (loaded once per test session)."""
    return load_model(device="cpu")


@pytest.fixture
def paintings():
    """Paths of the shared public-domain paintings; skips where ../shared is absent."""
    files = sorted(PAINTINGS.glob("*.jpg")) if PAINTINGS.is_dir() else []
    if not files:
        pytest.skip(f"paintings not found in {PAINTINGS} (they live in ../shared, outside the repo)")
    return files


@pytest.fixture
def seeded():
    torch.manual_seed(0)
    return torch.Generator().manual_seed(0)
