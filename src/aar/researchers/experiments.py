"""Experiments for agents: the trusted side prepares label-free bundles, the method runs in the sandbox.

A bundle (see :mod:`aar.w2s.bundle`) holds, per seed, the strong model's features of the unlabelled pool,
the teacher's soft labels there and the evaluation splits' features: everything a method may see and no
label. Bundles are written by the trusted side into a folder the agent cannot reach. The agent's ``*.py``
files are read from its workspace without following links (:mod:`aar.researchers.workspace`), packed like a
submission and run through the execution layer (:mod:`aar.execution`), locally or on Ray. The method's
dev predictions come back over the execution layer's channels and are written into the workspace
(``experiments/<id>/``) by the trusted side, again without following links.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from pathlib import Path

import numpy as np

from aar.errors import AarError
from aar.execution import Executor, Job, MethodFailed, executor_for
from aar.researchers.workspace import Workspace
from aar.sandbox import Sandbox
from aar.snapshots import MAX_FILE_BYTES, MAX_FILES, pack_files
from aar.w2s import Testbed, TestbedConfig
from aar.w2s.bundle import write_bundle
from aar.w2s.pipeline import EXPERIMENT_SPLITS

MAX_SEEDS = 5
OUTPUT_CHARS = 4000  # of the method's stdout and stderr, returned to the agent


class ExperimentRunner:
    def __init__(self, sandbox: Sandbox, workspace: Path, bundles: Path, weak: str | None = None,
                 strong: str | None = None, timeout_s: float = 900.0, ray_address: str | None = None,
                 executor: Executor | None = None):
        self.workspace, self.bundles = Workspace(workspace), bundles
        self.models = {k: v for k, v in (("weak", weak), ("strong", strong)) if v}
        self.timeout_s = timeout_s
        self.executor = executor or executor_for(ray_address, unsafe_sandbox=not sandbox.isolated)
        self._beds: dict[str, Testbed] = {}

    def testbed(self, task: str) -> Testbed:
        if task not in self._beds:
            self._beds[task] = Testbed(TestbedConfig(task=task, **self.models))
        return self._beds[task]

    def bundle(self, task: str, seeds: list[int]) -> tuple[Path, dict[str, int]]:
        path = self.bundles / f"{task}-s{'_'.join(map(str, seeds))}-dev.pkl"
        bed = self.testbed(task)
        if not path.exists():  # written once per task and seeds, also across restarts of this process
            self.bundles.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{uuid.uuid4().hex[:6]}")
            write_bundle(bed, seeds, tmp, splits=EXPERIMENT_SPLITS)
            tmp.replace(path)
        return path, {split: len(bed.task.splits[split]) for split in EXPERIMENT_SPLITS}

    def code(self, method: str) -> bytes | None:
        """The workspace's Python files as a snapshot archive, read without following links (None for a
        built-in method)."""
        if ":" not in method:
            return None
        names = self.workspace.python_files()
        if len(names) > MAX_FILES:
            raise AarError(f"your workspace has {len(names)} .py files outside experiments/; at most {MAX_FILES} "
                           f"travel with an experiment")
        return pack_files({name: self.workspace.read_bytes(name, MAX_FILE_BYTES) for name in names})

    def run(self, task: str, method: str, params: dict, seeds: list[int]) -> dict:
        if not seeds or len(seeds) > MAX_SEEDS or len(set(seeds)) != len(seeds):
            raise AarError(f"seeds must be 1 to {MAX_SEEDS} distinct integers")
        started = time.monotonic()
        code = self.code(method)
        bundle, sizes = self.bundle(task, sorted(seeds))
        prepared = time.monotonic() - started
        job = Job(bundle, tuple(sorted(seeds)), sizes, method, params, code, self.timeout_s)
        try:
            ran = self.executor.run(job)
        except MethodFailed as exc:
            tail = exc.output[-OUTPUT_CHARS:].strip()
            raise AarError(f"{exc}" + (f"\n--- method output (last {OUTPUT_CHARS} characters) ---\n{tail}"
                                       if tail else "")) from None
        exp_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        folder = f"experiments/{exp_id}"
        dev_ids = [e.id for e in self.testbed(task).task.splits["dev"]]
        mean_dev = np.mean([ran.outputs[s]["dev"] for s in sorted(ran.outputs)], axis=0)
        self.workspace.write_text(f"{folder}/dev_predictions.json",
                                  json.dumps(dict(zip(dev_ids, map(float, mean_dev), strict=True))))
        for seed, splits in ran.outputs.items():
            buffer = io.BytesIO()
            np.savez(buffer, **splits)
            self.workspace.write_bytes(f"{folder}/seed_{seed}.npz", buffer.getvalue())
        return {"experiment_id": exp_id, "task": task, "method": method, "params": params, "seeds": sorted(seeds),
                "dev_predictions_path": f"{folder}/dev_predictions.json",
                "per_seed_files": sorted(f"seed_{seed}.npz" for seed in ran.outputs),
                "seconds": {"prepare": round(prepared, 2), "run": round(ran.seconds, 2)},
                "compute_s": round(prepared + ran.seconds, 2), "executed_on": ran.executed_on,
                "output": ran.output[-OUTPUT_CHARS:], "audit": ran.audit.counts,
                **({"audit_problem": ran.audit.problem} if ran.audit.problem else {})}
