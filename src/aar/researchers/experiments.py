"""Experiments as a researcher's tools see them: sent to the evaluation server, which runs them where the
labels are (:mod:`aar.server.api.experiments`), and their dev predictions written into the workspace.

The researcher's process holds no labelled data and builds no features: it packs the workspace's ``*.py``
files (read without following links, :mod:`aar.researchers.workspace`), sends them with the method name,
parameters and seeds, and polls. Progress, timings and the method's bounded output come back with the
result. The dev predictions are written into the workspace (``experiments/<id>/``) by this trusted
process, again without following links.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from aar.errors import AarError
from aar.researchers.client import AgentClient
from aar.researchers.workspace import Workspace
from aar.results.api import ExperimentView
from aar.results.lifecycle import ExperimentStatus
from aar.snapshots import MAX_FILE_BYTES, MAX_FILES, pack_files

INHERITED = "inherited:"  # an earlier campaign's method, run from the code the server holds
FINISHED = (ExperimentStatus.DONE, ExperimentStatus.FAILED)
POLL_S = (0.1, 1.0)  # first and longest wait between polls
WAIT_S = 3600.0  # the longest a blocking run_experiment waits before handing back the id to poll


class ServerExperiments:
    def __init__(self, client: AgentClient, workspace: Path, wait_s: float = WAIT_S):
        self.client, self.workspace, self.wait_s = client, Workspace(workspace), wait_s

    def code(self, method: str) -> bytes | None:
        """The workspace's Python files as a snapshot archive, read without following links (None for a
        built-in method)."""
        if ":" not in method or method.startswith(INHERITED):  # built-in or inherited: the server has the code
            return None
        names = self.workspace.python_files()
        if len(names) > MAX_FILES:
            raise AarError(f"your workspace has {len(names)} .py files outside experiments/; at most {MAX_FILES} "
                           f"travel with an experiment")
        return pack_files({name: self.workspace.read_bytes(name, MAX_FILE_BYTES) for name in names})

    def start(self, task: str, method: str, params: dict, seeds: list[int]) -> ExperimentView:
        self.workspace.mkdirs("experiments")  # refused through a link: fail before the server spends anything
        return self.client.start_experiment(task, method, params, sorted(seeds), self.code(method))

    def run(self, task: str, method: str, params: dict, seeds: list[int], wait: bool = True,
            on_progress: Callable[[str], None] | None = None) -> dict:
        started = self.start(task, method, params, seeds)
        reused = ({"reused": "an identical experiment of yours (same code, method, params and seeds) ran before: "
                             "its result, not run or charged again"} if started.reused else {})
        if not wait:
            return {"experiment_id": started.id, "status": started.status, "queued_ahead": started.queued_ahead or 0,
                    **reused, "next": "poll it with experiment_status until its status is done or failed"}
        return {**self.wait(started.id, on_progress), **reused}

    def wait(self, experiment_id: int, on_progress: Callable[[str], None] | None = None) -> dict:
        deadline, pause, seen = time.monotonic() + self.wait_s, POLL_S[0], None
        while True:
            view = self.client.experiment(experiment_id)
            if view.progress != seen and on_progress is not None:
                on_progress(view.progress or view.status)
            seen = view.progress
            if view.status in FINISHED:
                return self.collect(view)
            if time.monotonic() > deadline:
                return {"experiment_id": experiment_id, "status": view.status, "progress": view.progress,
                        "next": "still running: poll it with experiment_status"}
            time.sleep(pause)
            pause = min(POLL_S[1], pause * 1.5)

    def status(self, experiment_id: int) -> dict:
        view = self.client.experiment(experiment_id)
        if view.status in FINISHED:
            return self.collect(view)
        return {"experiment_id": experiment_id, "status": view.status, "progress": view.progress,
                **({"queued_ahead": view.queued_ahead} if view.queued_ahead is not None else {})}

    def collect(self, view: ExperimentView) -> dict:
        """A finished experiment: its predictions written into the workspace, one ``{id: probability}`` file
        per seed and ``dev_predictions.json``, the mean over seeds (a seed ensemble, said so in the reply); a
        failed one raises with the method's own error and output."""
        if view.status == ExperimentStatus.FAILED:
            tail = view.output.strip()
            raise AarError(f"experiment {view.id} failed: {view.error or 'no reason given'}"
                           + (f"\n--- method output (last part) ---\n{tail}" if tail else ""))
        result = view.result
        if result is None:
            raise AarError(f"experiment {view.id} is done but the server sent no result; ask experiment_status again")
        folder = f"experiments/{view.id}"
        ids, per_seed = result.dev_ids, {int(s): p for s, p in result.per_seed.items()}
        mean_dev = np.mean([per_seed[s] for s in sorted(per_seed)], axis=0)
        self.workspace.write_text(f"{folder}/dev_predictions.json",
                                  json.dumps(dict(zip(ids, map(float, mean_dev), strict=True))))
        for seed, values in per_seed.items():
            self.workspace.write_text(f"{folder}/seed_{seed}.json",
                                      json.dumps(dict(zip(ids, map(float, values), strict=True))))
        return {"experiment_id": view.id, "task": view.task, "method": view.entry, "params": view.params,
                "seeds": view.seeds, "status": "done", "dev_predictions_path": f"{folder}/dev_predictions.json",
                "dev_predictions_are": (f"the mean of {len(per_seed)} seeds' predictions (an ensemble: it reads "
                                        "higher than the method verifies)" if len(per_seed) > 1 else "one seed"),
                "per_seed_files": [f"{folder}/seed_{seed}.json" for seed in sorted(per_seed)],
                "score_like_verification": {"tool": "evaluate", "arguments": {"task": view.task,
                                                                             "experiment_id": view.id}},
                "seconds": result.seconds.model_dump() if result.seconds else None,
                "compute_s": view.compute_s, "executed_on": result.executed_on, "signals": result.signals,
                "output": view.output, "audit": result.audit,
                **({"audit_problem": result.audit_problem} if result.audit_problem else {})}
