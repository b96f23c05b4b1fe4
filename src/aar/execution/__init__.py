"""One way to run untrusted method code on a label-free bundle: locally in bubblewrap, or on a Ray cluster
(where each node runs the same local sandbox). Results, errors and audit events come back over channels
the parent opened before the child started (:mod:`aar.execution.channel`); the parent never opens a path
the child could have made. Used by experiments, verification, the teacher ablation and the gauntlet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from aar.execution.job import Job, JobResult, MethodFailed
from aar.execution_settings import ExecutionSettings


class Executor(Protocol):
    name: str

    def run(self, job: Job, heartbeat: Callable[[], None] | None = None) -> JobResult: ...


def executor_for(settings: ExecutionSettings) -> Executor:
    """The executor ``settings`` name: Ray when they carry an address, else local bubblewrap (or, when the
    operator allowed it where bubblewrap is missing, plain processes)."""
    from aar.sandbox import Sandbox

    if settings.ray_address:
        from aar.execution.ray import RayExecutor

        return RayExecutor(settings.ray_address, settings.allow_unsandboxed)
    from aar.execution.local import LocalExecutor

    return LocalExecutor(Sandbox(unsafe=settings.allow_unsandboxed))


__all__ = ["ExecutionSettings", "Executor", "Job", "JobResult", "MethodFailed", "executor_for"]
