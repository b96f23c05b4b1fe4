"""Method lookup: built-ins, ``aar.methods`` entry points, and ``file.py:Class`` specs."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import inspect
import re
import sys
from importlib.metadata import entry_points
from pathlib import Path

from aar.errors import AarError
from aar.methods.base import Method

_REGISTRY: dict[str, type[Method]] = {}
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def register(cls: type[Method]) -> type[Method]:
    if not NAME.match(getattr(cls, "name", "")):
        raise AarError(f"method class {cls.__name__} needs a lowercase name matching {NAME.pattern}")
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtins() -> None:
    from aar.methods.baselines import BUILTINS
    from aar.methods.recipe import Recipe

    builtins: tuple[type[Method], ...] = (*BUILTINS, Recipe)
    for cls in builtins:
        _REGISTRY.setdefault(cls.name, cls)

    for ep in entry_points(group="aar.methods"):
        if ep.name not in _REGISTRY:
            register(ep.load())


def _load_file(spec: str) -> type[Method]:
    path_text, _, cls_name = spec.rpartition(":")
    path = Path(path_text)
    if not path.is_file() or path.suffix != ".py":
        raise AarError(f"method file {path_text!r} not found (expected path/to/file.py:ClassName)")
    module_name = "aar_user_method_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    assert module_spec and module_spec.loader
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:  # user code: report, do not crash with a traceback
        raise AarError(f"{path}: failed to import ({type(exc).__name__}: {exc})") from None
    cls = getattr(module, cls_name, None)
    from aar.methods.base import Method

    if not (inspect.isclass(cls) and issubclass(cls, Method)):
        raise AarError(f"{path}: {cls_name!r} is not a subclass of aar.methods.Method")
    return cls


def get_method(spec: str) -> type[Method]:
    _load_builtins()
    if ":" in spec and spec.rpartition(":")[0].endswith(".py"):
        return _load_file(spec)
    if spec not in _REGISTRY:
        raise AarError(f"unknown method {spec!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[spec]


def available() -> dict[str, type[Method]]:
    _load_builtins()
    return dict(sorted(_REGISTRY.items()))


@functools.cache
def source_hash(cls: type[Method]) -> str:
    """Version of a method's code, for the artifact cache: the hash of its module's source file, once per class
    (loading a file again makes a new class, so edited code is hashed again)."""
    try:
        source = Path(inspect.getsourcefile(cls) or "").read_bytes()
    except (OSError, TypeError):
        source = cls.__qualname__.encode()
    return hashlib.sha256(source).hexdigest()[:16]
