"""Verification and experiments as Ray tasks, for clusters (``--executor ray --ray-address ADDR``).

Both jobs are self-contained: the inputs travel as bytes through Ray's object store (the code snapshot,
the label-free bundle) and the outputs come back as arrays, so a job can land on any node. On the node
the submitted code still runs in the sandbox (bubblewrap must be installed there, as locally). A method's
own error comes back as a value, so an agent sees its error text, never a Ray traceback with our paths.

Ray: Moritz et al. 2018, "Ray: A Distributed Framework for Emerging AI Applications" (OSDI).
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aar.errors import AarError

log = logging.getLogger("aar.ray")

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
POLL_S = 1.0


def connect(address: str) -> None:
    """Join an existing Ray cluster (``ray start --head`` or a cluster launcher); never start one silently,
    so a wrong address is an error instead of a private one-node cluster."""
    try:
        import ray
    except ImportError:
        raise AarError("the ray executor needs Ray: pip install 'aar[ray]' (ray==2.60.0)") from None
    if ray.is_initialized():
        return
    _probe(address)
    env = {k: v for k, v in os.environ.items() if k == "AAR_HOME"} | OFFLINE_ENV
    try:
        ray.init(address=address, namespace="aar", log_to_driver=False, runtime_env={"env_vars": env},
                 configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise AarError(f"cannot join the Ray cluster at {address!r}: {exc}") from None


def _probe(address: str) -> None:
    """Fail in seconds on an address nobody listens on (Ray itself retries for minutes)."""
    if address == "auto" or address.startswith(("ray://", "anyscale://")):
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise AarError(f"Ray address must be host:port, 'auto' or ray://host:port, not {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise AarError(f"cannot join the Ray cluster at {address!r}: {exc.strerror or exc}") from None


def _where() -> dict:
    import ray

    return {"executor": "ray", "node_id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname()}


def _verify_job(task: str, entry: str, params: dict, seeds: list[int], snapshot: bytes,
                timeout_s: float) -> tuple[str, Any]:
    from aar.server.verify import verify

    with tempfile.TemporaryDirectory(prefix="aar-verify-") as tmp:
        try:
            verified = verify(task, entry, params, seeds, snapshot, Path(tmp), timeout_s)
        except AarError as exc:
            return "error", str(exc)
    verified.result["executed_on"] = _where()
    return "ok", verified


def _experiment_job(code: bytes | None, bundle: bytes, method: str, params: dict, timeout_s: float,
                    unsafe_sandbox: bool) -> tuple[str, Any]:
    from aar.integrity.audit import AUDIT_FILE
    from aar.sandbox import Sandbox
    from aar.server.snapshots import unpack
    from aar.w2s.isolated import run_isolated

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="aar-experiment-") as tmp:
        root = Path(tmp)
        (root / "code").mkdir()
        (root / "bundle.pkl").write_bytes(bundle)
        try:
            if code is not None:  # None: a built-in method, no workspace code
                unpack(code, root / "code")
            outputs = run_isolated(root / "bundle.pkl", root / "code", method, params, root / "out", timeout_s,
                                   sandbox=Sandbox(unsafe=unsafe_sandbox))
        except AarError as exc:
            return "error", str(exc)
        audit = (root / "out" / AUDIT_FILE).read_bytes()
    return "ok", {"outputs": outputs, "seconds": time.monotonic() - started, "executed_on": _where(),
                  "audit": audit}


def _await(ref, heartbeat: Callable[[], None] | None, deadline_s: float):
    """Wait for one task, calling ``heartbeat`` meanwhile; if it raises (lease lost), cancel the task."""
    import ray

    started = time.monotonic()
    try:
        while True:
            ready, _ = ray.wait([ref], timeout=POLL_S)
            if ready:
                break
            if heartbeat is not None:
                heartbeat()
            if time.monotonic() - started > deadline_s:
                raise AarError(f"the Ray task did not finish within {deadline_s:.0f} s")
    except BaseException:
        ray.cancel(ref, force=True)
        raise
    try:
        status, value = ray.get(ref)
    except ray.exceptions.RayError as exc:  # the node died, the task was killed, a bug of ours on the node
        log.error("Ray task failed: %s", exc)
        raise AarError(f"the job failed on the Ray cluster ({type(exc).__name__}); see the cluster's logs") from None
    if status == "error":
        raise AarError(value)
    return value


def verify_on_ray(task: str, entry: str, params: dict, seeds: list[int], snapshot: bytes, timeout_s: float,
                  heartbeat: Callable[[], None] | None = None):
    import ray

    job = ray.remote(num_cpus=1, max_retries=0)(_verify_job)
    # the bundle, features and vanilla runs take minutes on a cold node: allow them beyond the method's limit
    return _await(job.remote(task, entry, params, seeds, snapshot, timeout_s), heartbeat, timeout_s + 1800)


def experiment_on_ray(code: bytes | None, bundle_path: Path, method: str, params: dict, timeout_s: float,
                      unsafe_sandbox: bool) -> dict:
    import ray

    job = ray.remote(num_cpus=1, max_retries=0)(_experiment_job)
    return _await(job.remote(code, bundle_path.read_bytes(), method, params, timeout_s, unsafe_sandbox), None,
                  timeout_s + 600)
