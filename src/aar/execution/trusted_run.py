"""The one trusted run path: a method, a testbed, seeds and bundle options in; per-seed predictions out.

Verification, the knowledge-source ablations (:mod:`aar.execution.attribution`), the transfer gauntlet's
cells and agents' experiments all run submitted code the same way: write a label-free bundle (real or
ablated, :class:`aar.w2s.bundle.BundleOptions`), run it through an executor (local bubblewrap or Ray), stack
the child's outputs per trusted seed, and pair the student with vanilla on the same seeds and items. This
module is that sequence, once; each caller is one call of :func:`run_method` (or :func:`run_cached`) and,
where it scores, one of :func:`paired_with_vanilla`.

A method that cannot run on a task or backend fails with ``MethodFailed.category == "not_applicable"``
(raised as :class:`aar.errors.NotApplicable` in the child and in the trusted pipeline), never recognised by
the wording of a message.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aar.execution import Executor, Job
from aar.sandbox.audit import AuditRecord
from aar.w2s import RunResult, Testbed
from aar.w2s.bundle import REAL, BundleOptions, write_bundle
from aar.w2s.cache import ArtifactCache
from aar.w2s.pipeline import LAB_SPLITS

Bundle = tuple[Path, dict[str, int]]  # a bundle already written, and the items of each split it predicts


@dataclass(frozen=True)
class RunRequest:
    """What to run: ``entry`` is a built-in method name or ``path/in/snapshot.py:ClassName`` (``snapshot``:
    the code archive, None for a built-in); ``seeds`` are trusted seeds (the child sees opaque stand-ins)."""

    entry: str
    params: dict[str, Any]
    snapshot: bytes | None
    seeds: tuple[int, ...]
    timeout_s: float
    splits: tuple[str, ...] = LAB_SPLITS
    options: BundleOptions = REAL
    threads: int | None = None  # BLAS threads of the child, when several children share the cores
    identity: str = ""  # whose code it is: the sandbox's uid and limits (not part of the content key)

    def content_key(self, bed: Testbed, kind: str) -> dict[str, Any]:
        """Everything that determines the outputs: a content-addressed cache key (code, entry, params, task
        data, model pair, seeds, splits, bundle options)."""
        return {"kind": kind, "snapshot": hashlib.sha256(self.snapshot or b"").hexdigest(), "entry": self.entry,
                "params": self.params, "task": bed.task.name, "data": bed.task.content_hash,
                "weak": bed.config.weak, "strong": bed.config.strong, "seeds": list(self.seeds),
                "splits": list(self.splits), **self.options.key()}


@dataclass
class MethodRun:
    """The child's predictions per split as (seeds, items) in the request's seed order, and what it did."""

    probs: dict[str, np.ndarray]
    seconds: float = 0.0
    output: str = ""
    audit: AuditRecord = field(default_factory=AuditRecord)
    executed_on: dict = field(default_factory=dict)
    cached: bool = False

    def by_id(self, seeds: tuple[int, ...], ids: dict[str, list[str]]) -> dict[int, dict[str, dict[str, float]]]:
        """seed -> split -> example id -> probability (what the database stores per seed)."""
        return {seed: {s: dict(zip(ids[s], map(float, self.probs[s][i]), strict=True)) for s in self.probs}
                for i, seed in enumerate(seeds)}


def write_request_bundle(bed: Testbed, request: RunRequest, path: Path) -> dict[str, int]:
    return write_bundle(bed, list(request.seeds), path, splits=request.splits, options=request.options)


def run_method(bed: Testbed, request: RunRequest, executor: Executor, heartbeat: Callable[[], None] | None = None,
               bundle: Bundle | None = None) -> MethodRun:
    """Run the method once per seed in one sandboxed child. ``bundle``: one written already for these seeds,
    splits and options (experiments keep them on disk; the gauntlet shares one per environment); else one is
    written in a scratch folder. Raises :class:`aar.execution.MethodFailed`."""
    with tempfile.TemporaryDirectory(prefix="aar-run-") as tmp:
        if bundle is None:
            path = Path(tmp) / "bundle.pkl"
            bundle = path, write_request_bundle(bed, request, path)
        path, sizes = bundle
        job = Job(path, request.seeds, sizes, request.entry, request.params, request.snapshot, request.timeout_s,
                  threads=request.threads, backend=bed.config.strong, identity=request.identity)
        ran = executor.run(job, heartbeat)
    probs = {s: np.stack([ran.outputs[seed][s] for seed in request.seeds]) for s in sizes}
    return MethodRun(probs, ran.seconds, ran.output, ran.audit, ran.executed_on)


def run_cached(bed: Testbed, request: RunRequest, executor: Executor, kind: str, cache: ArtifactCache | None = None,
               bundle: Bundle | None = None, heartbeat: Callable[[], None] | None = None) -> MethodRun:
    """:func:`run_method`, cached by content under ``kind``: a re-scan, a resumed gauntlet or a second look at
    the same submission does not run the code again. The audit record and output are not cached (a cached
    run says ``cached=True`` and carries an empty record)."""
    cache = cache or ArtifactCache()
    key = request.content_key(bed, kind)
    fresh: list[MethodRun] = []

    def compute() -> dict[str, np.ndarray]:
        fresh.append(run_method(bed, request, executor, heartbeat, bundle))
        return fresh[0].probs

    probs = cache.get_or_compute(key, compute)
    if fresh:
        return fresh[0]
    return MethodRun({s: probs[s] for s in request.splits}, cached=True)


def paired_with_vanilla(bed: Testbed, request: RunRequest, run: MethodRun) -> tuple[RunResult, RunResult]:
    """The method's run scored next to vanilla's on the same seeds, items, teacher and ceiling: (the method's
    :class:`RunResult`, vanilla's). Vanilla always learns from the *real* teacher: an ablated run is compared
    with the honest baseline, not with an ablated one."""
    vanilla = bed.run("vanilla", list(request.seeds))
    return vanilla.with_student(request.entry, request.params, dict(run.probs)), vanilla
