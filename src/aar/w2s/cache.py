"""Content-addressed artifact cache for testbed runs.

The key hashes the full resolved configuration, the task's content hash, the seed, and the version of
the code that produced the artifact, so a baseline is computed once and can never silently drift: any
change to data, config or code yields a new key.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from aar import __version__, paths
from aar.fsio import load_arrays, save_arrays_atomic, sha256_json

_CODE_DIRS = ("models", "w2s")


@functools.cache
def code_version() -> str:
    """Hash of the modules whose behaviour determines artifacts (models, pipeline) plus the release: computed
    once per process (a process runs one version of the code), not on every cache lookup (0.31 ms each)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(__version__.encode())
    for sub in _CODE_DIRS:
        for path in sorted((root / sub).glob("*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class ArtifactCache:
    def __init__(self, root: Path | None = None):
        self.root = root or paths.artifacts_dir()
        self.hits = 0
        self.misses = 0

    def key(self, spec: dict) -> str:
        return sha256_json({**spec, "code": code_version()})

    def path(self, spec: dict) -> Path:
        key = self.key(spec)
        return self.root / key[:2] / f"{key}.npz"

    def has(self, spec: dict) -> bool:
        return self.path(spec).exists()

    def get_or_compute(self, spec: dict, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        path = self.path(spec)
        if path.exists():
            self.hits += 1
            return load_arrays(path)
        self.misses += 1
        arrays = compute()
        save_arrays_atomic(path, **arrays)
        return arrays
