"""Jobs as Ray tasks, for clusters (``--executor ray --ray-address ADDR``).

A job is self-contained: the code snapshot and the label-free bundle travel as bytes through Ray's object
store, and the node runs them in its own local sandbox (:class:`aar.execution.local.LocalExecutor`;
bubblewrap must be installed there, as locally). Only the label-free part travels: the trusted side
(verification, the gauntlet) stays where the labels are and pairs the returned predictions there. A
method's own failure comes back as a value, so an agent sees its error text, never a Ray traceback.

Ray: Moritz et al. 2018, "Ray: A Distributed Framework for Emerging AI Applications" (OSDI).
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from aar.errors import AarError
from aar.execution.job import Job, JobResult, MethodFailed

log = logging.getLogger("aar.ray")

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
POLL_S = 1.0
STAGING_S = 600  # beyond the method's own limit: shipping the bundle, starting the worker


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


def _node_job(job: Job, bundle: bytes, unsafe_sandbox: bool) -> tuple[str, Any]:
    """On the node: the same local sandbox as everywhere."""
    import ray

    from aar.execution.local import LocalExecutor
    from aar.sandbox import Sandbox

    with tempfile.TemporaryDirectory(prefix="aar-ray-job-") as tmp:
        path = Path(tmp) / "bundle.pkl"
        path.write_bytes(bundle)
        os.chmod(tmp, 0o755)
        os.chmod(path, 0o644)
        try:
            result = LocalExecutor(Sandbox(unsafe=unsafe_sandbox)).run(replace(job, bundle=path))
        except MethodFailed as exc:
            return "error", (str(exc), exc.output, exc.audit, exc.kind, exc.exception_type)
    result.executed_on = {**result.executed_on, "executor": "ray",
                          "node_id": ray.get_runtime_context().get_node_id()}
    return "ok", result


class RayExecutor:
    name = "ray"

    def __init__(self, address: str, unsafe_sandbox: bool = False):
        self.address, self.unsafe_sandbox = address, unsafe_sandbox
        connect(address)  # at once, so a wrong address fails before any work (and never inside a thread)

    def run(self, job: Job, heartbeat: Callable[[], None] | None = None) -> JobResult:
        import ray

        task = ray.remote(num_cpus=1, max_retries=0)(_node_job)
        ref = task.remote(replace(job, bundle=Path("bundle.pkl")), job.bundle.read_bytes(), self.unsafe_sandbox)
        status, value = _await(ref, heartbeat, job.timeout_s + STAGING_S)
        if status == "error":
            raise MethodFailed(*value)
        return value


def _await(ref: Any, heartbeat: Callable[[], None] | None, deadline_s: float) -> Any:
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
        return ray.get(ref)
    except ray.exceptions.RayError as exc:  # the node died, the task was killed, a bug of ours on the node
        log.error("Ray task failed: %s", exc)
        raise AarError(f"the job failed on the Ray cluster ({type(exc).__name__}); see the cluster's logs") from None
