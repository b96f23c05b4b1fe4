"""What the trusted side asks of the execution layer, and what comes back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aar.errors import AarError
from aar.sandbox.audit import AuditRecord

MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class Job:
    """Run a method on a label-free bundle. ``seeds`` are the trusted seeds in the bundle's order (the child
    never learns them); ``sizes`` the items of each split it must predict."""
    bundle: Path
    seeds: tuple[int, ...]
    sizes: dict[str, int]
    entry: str  # a built-in method name, or path/in/snapshot.py:ClassName
    params: dict
    snapshot: bytes | None  # the method's code archive (None: a built-in, no code)
    timeout_s: float
    threads: int | None = None  # BLAS/OpenMP threads of the child, when several share the cores
    backend: str = ""  # the bundle's strong model spec: what files and devices the child needs (hf: models)


@dataclass
class JobResult:
    outputs: dict[int, dict[str, np.ndarray]]  # trusted seed -> split -> probabilities
    seconds: float
    output: str  # the child's stdout and stderr, head and tail, bounded
    audit: AuditRecord
    executed_on: dict = field(default_factory=dict)


NOT_APPLICABLE_MARK = "not applicable: "  # how the child's error text says the method does not apply here


class MethodFailed(AarError):
    """The submitted method failed (error, timeout, malformed output). ``str()`` is the submitter's view:
    their traceback or our one-line reason, never a host path or file content. ``category`` is one of
    ``error``, ``timeout``, ``not_applicable`` (the method cannot run on this task or backend)."""

    def __init__(self, message: str, output: str = "", audit: AuditRecord | None = None, category: str = "error"):
        if message.startswith(NOT_APPLICABLE_MARK):
            message, category = message[len(NOT_APPLICABLE_MARK):], "not_applicable"
        super().__init__(message[:MAX_ERROR_CHARS])
        self.output, self.audit, self.category = output, audit, category

    @property
    def not_applicable(self) -> bool:
        return self.category == "not_applicable"
