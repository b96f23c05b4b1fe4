"""The campaign's child processes: the evaluation server on a free loopback port, and the rule that every child
dies with the orchestrator (even when it is killed with SIGKILL), so a crash never leaves orphans that hold
the database or spend LLM money."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from aar.campaign.spec import CampaignSpec
from aar.errors import AarError
from aar.process_env import environment

START_TIMEOUT_S = 120


def die_with_parent() -> None:
    """Children get SIGTERM when the orchestrator dies, even by SIGKILL (Linux prctl PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(spec: CampaignSpec, port: int) -> list[str]:
    """The server child's command line: settings as flags; the database URL travels in its environment
    (``AAR_DB_URL``), never here, where other users of the machine could read a password."""
    cmd = [sys.executable, "-m", "aar.cli", "serve", "--port", str(port), "--workers", str(spec.workers)]
    if spec.unsafe_sandbox:
        cmd.append("--allow-unsandboxed")
    if spec.ray_address:
        cmd += ["--executor", "ray", "--ray-address", spec.ray_address]
    return cmd


def start_server(spec: CampaignSpec, admin_token: str, log_path: Path) -> tuple[subprocess.Popen, str]:
    """`aar serve` for the campaign's database with its verification workers; returns (process, base URL) once
    /healthz answers."""
    port = free_port()
    cmd = server_command(spec, port)
    with log_path.open("ab") as log:
        server = subprocess.Popen(cmd, env=environment(AAR_ADMIN_TOKEN=admin_token, AAR_DB_URL=spec.db_url()),
                                  stdout=log,
                                  stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + START_TIMEOUT_S
    while time.time() < deadline:
        if server.poll() is not None:
            raise AarError(f"the evaluation server exited; see {log_path}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return server, base
        except httpx.HTTPError:
            time.sleep(0.3)
    server.kill()
    raise AarError(f"the evaluation server did not start within {START_TIMEOUT_S} s; see {log_path}")


def stop_all(procs: list[subprocess.Popen], grace_s: float = 20) -> None:
    """SIGTERM to every live process, then SIGKILL to any still alive after ``grace_s``."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
