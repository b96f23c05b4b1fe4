"""Run a job in a local bubblewrap sandbox (or, when the operator asked for it, a plain process)."""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from aar.execution.channel import Channels
from aar.execution.failure import parse_child_error
from aar.execution.job import Job, JobResult, MethodFailed
from aar.models.base import sandbox_needs
from aar.sandbox import Sandbox, SandboxPolicy
from aar.sandbox.runner import default_sandbox
from aar.snapshots import check_entry, unpack

OUTPUT_BYTES = 16 * 1024


def gpu_devices() -> tuple[str, ...]:
    """The NVIDIA device nodes a CUDA child opens (``nvidiactl``, ``nvidia-uvm``, one per GPU, ``caps``).
    With a GPU the address-space limit is lifted too: CUDA reserves tens of GiB of virtual memory at start;
    the wall and CPU limits still hold."""
    return tuple(sorted(str(p) for p in Path("/dev").glob("nvidia*")))


class LocalExecutor:
    name = "local"

    def __init__(self, sandbox: Sandbox | None = None):
        self.sandbox = sandbox or default_sandbox()

    def run(self, job: Job, heartbeat: Callable[[], None] | None = None) -> JobResult:
        """Unpack the code next to a scratch folder, run the child, read its channels. ``heartbeat`` is
        called while it runs; if it raises (lease lost, server gone) the child is killed and it propagates.
        Raises :class:`MethodFailed` for the method's own failures."""
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="aar-job-") as tmp, Channels() as channels:
            root = Path(tmp)
            os.chmod(root, 0o755)  # the sandbox's user must reach code and scratch; nothing here is secret
            code = root / "code"
            code.mkdir(mode=0o755)
            if job.snapshot is not None:
                files = unpack(job.snapshot, code)
                if ":" in job.entry:
                    check_entry(job.entry, files)
                for path in code.rglob("*"):
                    os.chmod(path, 0o755 if path.is_dir() else 0o644)
            elif ":" in job.entry:
                raise MethodFailed(f"entry {job.entry!r} names a file but there is no code", kind="setup")
            scratch = root / "work"
            scratch.mkdir()
            inside_bundle, inside_code = (("/job/bundle.pkl", "/job/code") if self.sandbox.isolated
                                          else (str(job.bundle), str(code)))
            threads = {"OMP_NUM_THREADS": str(job.threads), "MKL_NUM_THREADS": str(job.threads)} if job.threads else {}
            mounts, model_env, gpu = sandbox_needs(job.backend) if job.backend else ([], {}, False)
            read_only: dict[Path, str | Path] = {job.bundle: inside_bundle, code: inside_code, **{m: m for m in mounts}}
            policy = SandboxPolicy(workspace=scratch, read_only=read_only,
                                   wall_s=job.timeout_s, cpu_s=int(job.timeout_s * (os.cpu_count() or 1)) + 60,
                                   output_bytes=OUTPUT_BYTES, env={**threads, **model_env}, identity=job.identity)
            if gpu:  # device nodes bound in; no address-space limit (CUDA reserves far more than it uses)
                policy = replace(policy, devices=gpu_devices(), memory_bytes=None)
            result_fd, error_fd, audit_fd = channels.fds
            cmd = [sys.executable, "-I", "-m", "aar.execution.child", inside_bundle, inside_code, job.entry,
                   json.dumps(job.params), str(result_fd), str(error_fd), str(audit_fd)]
            try:
                run = self.sandbox.run(policy, cmd, stdin=channels.stdin(), heartbeat=heartbeat,
                                       pass_fds=channels.fds)
            finally:
                channels.finish()
            audit = channels.audit(len(job.seeds) if run.ok else None)
            if run.limit:
                raise MethodFailed(f"method killed: {run.limit_detail}", run.output, audit, "exited")
            if run.timed_out:
                raise MethodFailed(f"method timed out after {job.timeout_s:.0f} s", run.output, audit, "timeout")
            if run.returncode != 0:
                raw = channels.error_text().strip()
                if not raw:
                    raise MethodFailed(f"method process exited with code {run.returncode}:\n{run.output[-1500:]}",
                                       run.output, audit, "exited")
                exception_type, not_applicable, text = parse_child_error(raw)
                raise MethodFailed(text, run.output, audit, "not_applicable" if not_applicable else "raised",
                                   exception_type)
            outputs = channels.results(job.seeds, job.sizes)
        return JobResult(outputs, time.monotonic() - started, run.output, audit,
                         {"executor": self.name, "host": socket.gethostname(), "sandboxed": run.sandboxed})
