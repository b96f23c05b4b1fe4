"""Experiments for agents: the trusted side prepares label-free bundles, the method runs in the sandbox.

A bundle (see :mod:`aar.w2s.isolated`) holds, per seed, the strong model's features of the unlabelled pool,
the teacher's soft labels there and the evaluation splits' features: everything a method may see and no
label. Bundles are written by the orchestrator (which may read the artifact cache) into a folder mounted
read-only in the sandbox; the agent's method file runs there and its dev predictions come back as a JSON
file in the workspace, ready for the ``evaluate`` tool.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

import numpy as np

from aar.errors import AarError
from aar.fsio import write_text_atomic
from aar.integrity.audit import AUDIT_FILE, summarize
from aar.sandbox import Sandbox, SandboxPolicy
from aar.server.snapshots import pack
from aar.w2s import Testbed, TestbedConfig
from aar.w2s.isolated import ERROR_FILE, read_outputs, write_bundle

MAX_SEEDS = 5


class ExperimentRunner:
    def __init__(self, sandbox: Sandbox, workspace: Path, bundles: Path, weak: str | None = None,
                 strong: str | None = None, timeout_s: float = 900.0, ray_address: str | None = None):
        self.sandbox, self.workspace, self.bundles = sandbox, workspace, bundles
        self.models = {k: v for k, v in (("weak", weak), ("strong", strong)) if v}
        self.timeout_s = timeout_s
        self.ray_address = ray_address  # run the method as a Ray task (the workspace's code travels)
        self._beds: dict[str, Testbed] = {}

    def testbed(self, task: str) -> Testbed:
        if task not in self._beds:
            self._beds[task] = Testbed(TestbedConfig(task=task, **self.models))
        return self._beds[task]

    def bundle(self, task: str, seeds: list[int]) -> Path:
        path = self.bundles / f"{task}-s{'_'.join(map(str, seeds))}.pkl"
        if not path.exists():
            self.bundles.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{uuid.uuid4().hex[:6]}")
            write_bundle(self.testbed(task), seeds, tmp)
            tmp.replace(path)
        return path

    def policy(self) -> SandboxPolicy:
        return SandboxPolicy(workspace=self.workspace, read_only={self.bundles: "/bundles"}, wall_s=self.timeout_s)

    def run(self, task: str, method: str, params: dict, seeds: list[int]) -> dict:
        if not seeds or len(seeds) > MAX_SEEDS or len(set(seeds)) != len(seeds):
            raise AarError(f"seeds must be 1 to {MAX_SEEDS} distinct integers")
        started = time.monotonic()
        host_bundle = self.bundle(task, sorted(seeds))
        prepared = time.monotonic() - started
        exp_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        out = self.workspace / "experiments" / exp_id
        out.mkdir(parents=True)
        run = self._run_on_ray if self.ray_address else self._run_here
        outputs, run_s, where = run(host_bundle, method, params, out)
        dev_ids = [e.id for e in self.testbed(task).task.splits["dev"]]
        mean_dev = np.mean([outputs[s]["dev"] for s in sorted(outputs)], axis=0)
        predictions = dict(zip(dev_ids, map(float, mean_dev), strict=True))
        path = out / "dev_predictions.json"
        write_text_atomic(path, json.dumps(predictions))
        return {"experiment_id": exp_id, "task": task, "method": method, "params": params, "seeds": sorted(seeds),
                "dev_predictions_path": str(path.relative_to(self.workspace)),
                "per_seed_files": sorted(p.name for p in out.glob("seed_*.npz")),
                "seconds": {"prepare": round(prepared, 2), "run": round(run_s, 2)},
                "compute_s": round(prepared + run_s, 2), "executed_on": where,
                "audit": summarize(out)["counts"]}

    def _run_here(self, host_bundle: Path, method: str, params: dict, out: Path) -> tuple[dict, float, dict]:
        inside_bundle = f"/bundles/{host_bundle.name}" if self.sandbox.isolated else str(host_bundle)
        cmd = [sys.executable, "-I", "-m", "aar.w2s.isolated", inside_bundle, str(self.workspace), method,
               json.dumps(params), str(out)]
        result = self.sandbox.run(self.policy(), cmd)
        if result.timed_out:
            raise AarError(f"experiment timed out after {self.timeout_s:.0f} s")
        if result.returncode != 0:
            error = out / ERROR_FILE
            raise AarError(error.read_text()[-2000:] if error.exists() else result.output[-2000:])
        return read_outputs(host_bundle, out), result.wall_s, {"executor": "local"}

    def _run_on_ray(self, host_bundle: Path, method: str, params: dict, out: Path) -> tuple[dict, float, dict]:
        """The agent's ``*.py`` files (snapshot limits apply) and the bundle go to a Ray node; the per-seed
        predictions come back and are written where a local run would have put them."""
        from aar.campaign.ray_executor import connect, experiment_on_ray

        connect(self.ray_address)  # type: ignore[arg-type]
        job = experiment_on_ray(workspace_code(self.workspace), host_bundle, method, params, self.timeout_s,
                                unsafe_sandbox=not self.sandbox.isolated)
        for seed, splits in job["outputs"].items():
            np.savez(out / f"seed_{seed}.npz", **splits)
        (out / AUDIT_FILE).write_bytes(job["audit"])
        return job["outputs"], float(job["seconds"]), job["executed_on"]


def workspace_code(workspace: Path) -> bytes | None:
    """The workspace's Python files as a snapshot archive (None when there are none)."""
    names = [p.relative_to(workspace).as_posix() for p in workspace.rglob("*.py")
             if "__pycache__" not in p.parts and "experiments" not in p.relative_to(workspace).parts[:1]]
    return pack(workspace, names) if names else None
