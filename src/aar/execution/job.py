"""What the trusted side asks of the execution layer, and what comes back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aar.errors import AarError
from aar.execution.failure import KINDS, public_text
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
    identity: str = ""  # whose code runs ("agent:C:A", "verify:C:S"): the sandbox's own uid and limits


@dataclass
class JobResult:
    outputs: dict[int, dict[str, np.ndarray]]  # trusted seed -> split -> probabilities
    seconds: float
    output: str  # the child's stdout and stderr, head and tail, bounded
    audit: AuditRecord
    executed_on: dict = field(default_factory=dict)


class MethodFailed(AarError):
    """The submitted method failed (error, timeout, malformed output). ``str()`` is the detail for runs on
    public inputs (experiments): the submitter's own traceback or our one-line reason, never a host path.
    :meth:`public` is all a submitter may read of a run on private inputs (:mod:`aar.execution.failure`).
    ``kind`` is one of :data:`aar.execution.failure.KINDS`; ``category`` (``error``, ``timeout``,
    ``not_applicable``) follows from it; ``exception_type`` is the type the method raised, as it reported it."""

    def __init__(self, message: str, output: str = "", audit: AuditRecord | None = None, kind: str = "exited",
                 exception_type: str | None = None):
        if kind not in KINDS:
            raise ValueError(f"unknown failure kind {kind!r}")
        super().__init__(message[:MAX_ERROR_CHARS])
        self.output, self.audit, self.kind, self.exception_type = output, audit, kind, exception_type

    @property
    def category(self) -> str:
        return self.kind if self.kind in ("timeout", "not_applicable") else "error"

    @property
    def not_applicable(self) -> bool:
        return self.kind == "not_applicable"

    def public(self) -> str:
        return public_text(self.kind, self.exception_type)

    def __reduce__(self) -> tuple[type[MethodFailed], tuple]:  # crosses process boundaries (Ray) with every field
        return (MethodFailed, (str(self), self.output, self.audit, self.kind, self.exception_type))
