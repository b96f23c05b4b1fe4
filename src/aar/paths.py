"""Where aar keeps its state. One root (AAR_HOME, default ./.aar) so a run is easy to move or wipe."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

_ELSEWHERE: ContextVar[Path | None] = ContextVar("aar_home_elsewhere", default=None)


def home() -> Path:
    elsewhere = _ELSEWHERE.get()
    return elsewhere if elsewhere is not None else Path(os.environ.get("AAR_HOME", Path.cwd() / ".aar")).resolve()


@contextmanager
def home_at(root: Path) -> Iterator[Path]:
    """Act as another installation (its own keys and data) inside the block, in this thread only, without
    touching the process environment that child processes inherit (the leak probe that rebuilds a task under
    another key)."""
    token = _ELSEWHERE.set(root.resolve())
    try:
        yield root
    finally:
        _ELSEWHERE.reset(token)


def campaign_dir(name: str) -> Path:
    """A campaign's folder: its spec, database (SQLite default), agents, results and report."""
    return home() / "campaigns" / name


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
