"""Where aar keeps its state. One root (AAR_HOME, default ./.aar) so a run is easy to move or wipe."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("AAR_HOME", Path.cwd() / ".aar")).resolve()


def data_dir() -> Path:
    """Labelled task data: readable by the trusted testbed and server only, never by agents."""
    return home() / "data"


def features_dir() -> Path:
    return home() / "features"


def models_dir() -> Path:
    """Checkpoints converted on the trusted side (GGUF dequantised once): public weights, no labels."""
    return home() / "models"


def artifacts_dir() -> Path:
    return home() / "artifacts"
