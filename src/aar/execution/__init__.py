"""One way to run untrusted method code on a label-free bundle: locally in bubblewrap, or on a Ray cluster
(where each node runs the same local sandbox). Results, errors and audit events come back over channels
the parent opened before the child started (:mod:`aar.execution.channel`); the parent never opens a path
the child could have made. Used by experiments, verification, the teacher ablation and the gauntlet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from aar.execution.job import Job, JobResult, MethodFailed


class Executor(Protocol):
    name: str

    def run(self, job: Job, heartbeat: Callable[[], None] | None = None) -> JobResult: ...


def executor_for(ray_address: str | None = None, unsafe_sandbox: bool | None = None) -> Executor:
    """The executor of a process: Ray when an address is given, else local bubblewrap (or, when the
    operator asked for it, plain processes: ``unsafe_sandbox``, by default from ``AAR_UNSAFE_SANDBOX``)."""
    import os

    from aar.sandbox import Sandbox

    if unsafe_sandbox is None:
        unsafe_sandbox = os.environ.get("AAR_UNSAFE_SANDBOX") == "1"

    if ray_address:
        from aar.execution.ray import RayExecutor

        return RayExecutor(ray_address, unsafe_sandbox)
    from aar.execution.local import LocalExecutor

    return LocalExecutor(Sandbox(unsafe=unsafe_sandbox))


__all__ = ["Executor", "Job", "JobResult", "MethodFailed", "executor_for"]
