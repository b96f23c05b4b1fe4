"""Real servers on loopback for the test suite and benchmarks: PostgreSQL and `aar serve`.

PostgreSQL is initdb-ed into a temp dir and started with pg_ctl. It refuses to run as root, so as root
the server runs as the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_aar_server(url: str, admin_token: str, wait_s: float = 60,
                     extra: tuple[str, ...] = ("--workers", "0")) -> tuple[subprocess.Popen, str]:
    """Start `aar serve` on a free loopback port and wait for /healthz; RuntimeError with its output if not.
    Its output goes to a temporary file (a pipe nobody reads would block a chatty server)."""
    import sys
    import time

    import httpx

    port = free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server process)
    # the database URL through the environment, as `aar run` passes it (never on a command line)
    proc = subprocess.Popen([sys.executable, "-m", "aar.cli", "serve", "--port", str(port), *extra],
                            env={**os.environ, "AAR_ADMIN_TOKEN": admin_token, "AAR_DB_URL": url}, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + wait_s
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    proc.wait()
    log.seek(0)
    raise RuntimeError(f"server on {url.split('@')[-1]} did not start: {log.read().decode(errors='replace')}")


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        raise RuntimeError(f"PostgreSQL's {name} not found: install the Debian package 'postgresql' "
                           f"(.ci/run and `make test` do this)")
    return found[-1]


def _as_server_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a SQLAlchemy URL of a fresh, empty PostgreSQL cluster; stop and delete it afterwards."""
    root = tempfile.mkdtemp(prefix="aar-pg-")
    data = os.path.join(root, "data")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    port = free_port()
    subprocess.run(_as_server_user([_bin("initdb"), "-D", data, "-A", "trust", "-U", "aar", "--no-sync"]),
                   check=True, capture_output=True)
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(_as_server_user([_bin("pg_ctl"), "-D", data, "-o", opts, "-w", "-l",
                                    os.path.join(root, "log"), "start"]), check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://aar@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_server_user([_bin("pg_ctl"), "-D", data, "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
