"""Where sandboxed code runs, as one value: read from the environment in exactly one place
(:meth:`ExecutionSettings.from_environment`), passed explicitly everywhere else, and handed to child processes
through the environment dict they are started with (:meth:`ExecutionSettings.environment`), never by changing
this process's own environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

ALLOW_UNSANDBOXED = "AAR_UNSAFE_SANDBOX"  # the variable a child inherits the operator's --allow-unsandboxed by


@dataclass(frozen=True)
class ExecutionSettings:
    ray_address: str | None = None  # run verification and experiments as Ray tasks on this cluster
    allow_unsandboxed: bool = False  # where bubblewrap is missing, run code without a sandbox instead of refusing

    @classmethod
    def from_environment(cls, ray_address: str | None = None) -> ExecutionSettings:
        """What this process was started with (a worker or researcher process started by aar)."""
        return cls(ray_address=ray_address, allow_unsandboxed=os.environ.get(ALLOW_UNSANDBOXED) == "1")

    def environment(self) -> dict[str, str]:
        """The variables a child process needs to run under these settings (merged into its environment)."""
        return {ALLOW_UNSANDBOXED: "1"} if self.allow_unsandboxed else {}
