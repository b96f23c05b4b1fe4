"""Run a command under a :class:`SandboxPolicy` with bubblewrap, or (refused unless asked for) without.

Limits: wall time is enforced here (the whole process group is SIGKILLed); CPU seconds, address space,
file size and process count with rlimits set in the child before ``exec``, inherited by everything it
starts. Output is captured to a file and the caller gets its head and tail. bubblewrap unshares every
namespace (no network at all, own PIDs, own hostname), dies with its parent, and clears the environment.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aar.errors import AarError
from aar.sandbox.policy import SYSTEM_DIRS, SandboxPolicy, python_roots

log = logging.getLogger("aar.sandbox")
UNSAFE_WARNING = ("WARNING: running agent code WITHOUT a sandbox (bubblewrap not found or disabled): it can "
                  "read every file this user can, reach the network and see nothing of these limits but "
                  "rlimits. Install the Debian package 'bubblewrap'.")


def bubblewrap_available() -> bool:
    return shutil.which("bwrap") is not None


def default_sandbox() -> Sandbox:
    """The sandbox for this process: unsafe only when the operator said so (``--unsafe-sandbox`` sets
    ``AAR_UNSAFE_SANDBOX=1`` for the processes it starts)."""
    return Sandbox(unsafe=os.environ.get("AAR_UNSAFE_SANDBOX") == "1")


@dataclass
class SandboxResult:
    returncode: int
    output: str  # head and tail of stdout+stderr, with a note when truncated
    wall_s: float
    cpu_s: float
    timed_out: bool
    sandboxed: bool

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


class Sandbox:
    """``Sandbox(unsafe=False)`` raises if bubblewrap is missing; ``unsafe=True`` runs plain processes
    after a loud warning (for machines where bubblewrap cannot run)."""

    def __init__(self, unsafe: bool = False):
        self.bwrap = shutil.which("bwrap")
        if self.bwrap is None and not unsafe:
            raise AarError("bubblewrap (bwrap) is not installed, so agent code cannot be sandboxed; install the "
                           "Debian package 'bubblewrap' (make does) or pass --unsafe-sandbox to run unsandboxed")
        if self.bwrap is None:
            log.warning(UNSAFE_WARNING)

    @property
    def isolated(self) -> bool:
        return self.bwrap is not None

    def argv(self, policy: SandboxPolicy, command: list[str], cwd: Path | None = None) -> list[str]:
        if self.bwrap is None:
            return command
        args = [self.bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
                "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--hostname", "sandbox"]
        for d in SYSTEM_DIRS:
            if Path(d).exists():
                args += ["--ro-bind", d, d] if not Path(d).is_symlink() else ["--symlink", os.readlink(d), d]
        for root in python_roots():
            args += ["--ro-bind", str(root), str(root)]
        for masked in policy.masked_dirs():
            args += ["--tmpfs", str(masked.resolve())]
        for host, inside in policy.read_only.items():
            args += ["--ro-bind", str(Path(host).resolve()), str(inside)]
        workspace = str(policy.workspace.resolve())
        args += ["--bind", workspace, workspace]
        for key, value in policy.environment().items():
            args += ["--setenv", key, value]
        args += ["--chdir", str(cwd or workspace), "--"]
        return args + command

    def run(self, policy: SandboxPolicy, command: list[str], cwd: Path | None = None,
            stdin: bytes | None = None, heartbeat: Callable[[], None] | None = None,
            heartbeat_every_s: float = 1.0) -> SandboxResult:
        """Run to completion or the wall limit. ``heartbeat`` is called while the command runs; if it
        raises, the command's process group is killed and the exception propagates."""
        policy.workspace.mkdir(parents=True, exist_ok=True)
        argv = self.argv(policy, command, cwd)

        argv, limits = _with_limits(argv, policy)

        with tempfile.TemporaryFile() as out:
            start = time.monotonic()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                    preexec_fn=limits, cwd=str(cwd or policy.workspace),
                                    env=policy.environment() if self.bwrap is None else {"PATH": "/usr/bin:/bin"})
            timed_out = False
            try:
                if stdin is not None and proc.stdin:
                    proc.stdin.write(stdin)
                    proc.stdin.close()
                deadline = start + policy.wall_s
                while proc.poll() is None:
                    if time.monotonic() >= deadline:
                        timed_out = True
                        break
                    if heartbeat:
                        heartbeat()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=min(heartbeat_every_s, max(0.01, deadline - time.monotonic())))
            finally:
                with contextlib.suppress(ProcessLookupError):  # the whole group: no orphan keeps running
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            out.seek(0)
            output = _head_tail(out.read(), policy.output_bytes)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return SandboxResult(proc.returncode, output, time.monotonic() - start, cpu, timed_out, self.isolated)


def _with_limits(argv: list[str], policy: SandboxPolicy) -> tuple[list[str], Callable[[], None] | None]:
    """Resource limits inherited by bwrap and everything below it. util-linux ``prlimit`` sets them and
    execs the command, so no Python runs between fork and exec: a ``preexec_fn`` is unsafe in a threaded
    parent (the transfer gauntlet runs several sandboxes from threads) and can deadlock the child. Without
    ``prlimit`` (non-Linux, unsafe mode) the limits fall back to a ``preexec_fn``."""
    prlimit = shutil.which("prlimit")
    if prlimit:
        return [prlimit, f"--cpu={policy.cpu_s}:{policy.cpu_s + 5}", f"--as={policy.memory_bytes}",
                f"--fsize={policy.file_bytes}", "--core=0", "--", *argv], None

    def limits() -> None:  # in the child, before exec
        resource.setrlimit(resource.RLIMIT_CPU, (policy.cpu_s, policy.cpu_s + 5))
        resource.setrlimit(resource.RLIMIT_AS, (policy.memory_bytes, policy.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (policy.file_bytes, policy.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return argv, limits


def _head_tail(data: bytes, limit: int) -> str:
    if len(data) <= limit:
        return data.decode(errors="replace")
    half = limit // 2
    return (data[:half].decode(errors="replace") + f"\n[... {len(data) - limit} bytes of output omitted ...]\n"
            + data[-half:].decode(errors="replace"))
