"""An agent's experiment, run on the trusted side: its method on a label-free bundle of its experiment seeds,
through the execution layer, returning the dev predictions it made.

This runs inside a server worker (:mod:`aar.server.experiment_jobs`), where the labelled task and the
features already are, so a researcher's own process never builds labelled data or re-encodes features
(an MCP researcher's process used to build every labelled split in its home and re-encode chat in 150 s).
Bundles depend only on the task and the seeds and carry no label: they are written once into a folder of
the server's own (names made here from a validated task name and integer seeds, never from agent input).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aar.execution import Executor, MethodFailed
from aar.execution.trusted_run import RunRequest, run_method
from aar.w2s import Testbed, TestbedConfig
from aar.w2s.bundle import write_bundle
from aar.w2s.pipeline import EXPERIMENT_SPLITS

OUTPUT_CHARS = 4000  # of the method's stdout and stderr, kept and shown to its agent


@dataclass
class ExperimentRun:
    dev_ids: list[str]  # the dev split's public order
    per_seed: dict[int, list[float]]  # experiment seed -> dev probabilities in ``dev_ids`` order
    prepare_s: float
    run_s: float
    output: str
    executed_on: dict = field(default_factory=dict)
    audit: dict = field(default_factory=dict)  # what the method tried in its sandbox, by kind
    audit_problem: str | None = None
    signals: dict = field(default_factory=dict)  # label-free screening numbers (:func:`screening_signals`)


class ExperimentFailed(Exception):
    """The method failed; ``str()`` is the agent's view (its traceback or a one-line reason)."""

    def __init__(self, message: str, output: str, seconds: float, audit: dict | None = None):
        super().__init__(message)
        self.output, self.seconds, self.audit = output[-OUTPUT_CHARS:], seconds, audit or {}


class ExperimentRunner:
    """Testbeds are kept per process (a worker runs many experiments on few tasks)."""

    def __init__(self, executor: Executor, bundles: Path, weak: str | None = None, strong: str | None = None):
        self.executor, self.bundles = executor, bundles
        self.models = {k: v for k, v in (("weak", weak), ("strong", strong)) if v}
        self._beds: dict[str, Testbed] = {}

    def testbed(self, task: str) -> Testbed:
        if task not in self._beds:
            self._beds[task] = Testbed(TestbedConfig(task=task, **self.models))
        return self._beds[task]

    def bundle(self, task: str, seeds: list[int]) -> tuple[Path, dict[str, int]]:
        bed = self.testbed(task)
        path = self.bundles / f"{task}-s{'_'.join(str(int(s)) for s in seeds)}-dev.pkl"
        if not path.exists():  # once per task and seeds, also across restarts; written whole, then renamed
            self.bundles.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{uuid.uuid4().hex[:6]}")
            write_bundle(bed, seeds, tmp, splits=EXPERIMENT_SPLITS)
            tmp.replace(path)
        return path, {split: len(bed.task.splits[split]) for split in EXPERIMENT_SPLITS}

    def run(self, task: str, entry: str, params: dict, seeds: list[int], snapshot: bytes | None,
            timeout_s: float, heartbeat: Callable[[], None] | None = None,
            progress: Callable[[str], None] | None = None, identity: str = "") -> ExperimentRun:
        note = progress or (lambda _: None)
        started = time.monotonic()
        note("preparing the bundle (teacher labels and student features)")
        seeds = sorted(int(s) for s in seeds)
        bundle, sizes = self.bundle(task, seeds)
        prepared = time.monotonic() - started
        note(f"running the method on {len(seeds)} seed(s)")
        # the time limit covers preparation and run together (it is what the agent's compute budget allows)
        request = RunRequest(entry, params, snapshot, tuple(seeds), max(1.0, timeout_s - prepared),
                             splits=EXPERIMENT_SPLITS, identity=identity)
        try:
            ran = run_method(self.testbed(task), request, self.executor, heartbeat, (bundle, sizes))
        except MethodFailed as exc:
            audit = dict(exc.audit.counts) if exc.audit is not None else {}
            raise ExperimentFailed(str(exc), exc.output, time.monotonic() - started, audit) from None
        bed = self.testbed(task)
        dev_ids = [e.id for e in bed.task.splits["dev"]]
        per_seed = {seed: [float(p) for p in ran.probs["dev"][i]] for i, seed in enumerate(seeds)}
        teacher = np.mean([bed.weak_run(seed)["dev"] for seed in seeds], axis=0)
        signals = screening_signals(np.array([per_seed[s] for s in seeds]), teacher)
        return ExperimentRun(dev_ids, per_seed, round(prepared, 3), round(ran.seconds, 3),
                             ran.output[-OUTPUT_CHARS:], ran.executed_on, dict(ran.audit.counts),
                             ran.audit.problem, signals)


CONFIDENT_SHARE = 0.3  # the teacher's most confident share of dev, where a sound student should agree with it


def screening_signals(student: np.ndarray, teacher: np.ndarray) -> dict[str, float]:
    """Numbers a researcher can screen candidates by before spending a dev evaluation. None uses a label:
    they compare the student's dev predictions (``seeds x items``) with each other and with the teacher's
    (mean over the same seeds), so they are as public as the predictions themselves.

    - ``seed_agreement``: share of items on which two seeds decide alike, averaged over seed pairs (1.0 with
      one seed): an unstable method's dev score is mostly its seed.
    - ``teacher_agreement``: share of items where the seed-averaged student decides as the teacher does
      (1.0: the student copies its teacher, so it cannot beat it).
    - ``confident_teacher_agreement``: the same on the teacher's 30% most confident items, where the teacher
      is usually right: a student that overrides it there is likely wrong (W2S students should disagree
      where the teacher is unsure, not where it is sure).
    - ``mean_entropy_bits``: mean binary entropy of the seed-averaged predictions (a collapsed student is
      near 0 or near 1 everywhere; an untrained one near 1).
    - ``positive_rate`` and ``teacher_positive_rate``: a student that predicts one class is a degenerate one.
    """
    mean = student.mean(axis=0)
    decide, teacher_decide = mean > 0.5, teacher > 0.5
    votes = student > 0.5
    pairs = [(a, b) for a in range(len(votes)) for b in range(a + 1, len(votes))]
    seed_agreement = float(np.mean([np.mean(votes[a] == votes[b]) for a, b in pairs])) if pairs else 1.0
    confident = np.argsort(-np.abs(teacher - 0.5), kind="stable")[: max(1, round(CONFIDENT_SHARE * len(teacher)))]
    q = np.clip(mean, 1e-9, 1 - 1e-9)
    entropy = -(q * np.log2(q) + (1 - q) * np.log2(1 - q))
    return {"seed_agreement": round(seed_agreement, 4),
            "teacher_agreement": round(float(np.mean(decide == teacher_decide)), 4),
            "confident_teacher_agreement": round(float(np.mean(decide[confident] == teacher_decide[confident])), 4),
            "mean_entropy_bits": round(float(entropy.mean()), 4),
            "positive_rate": round(float(decide.mean()), 4),
            "teacher_positive_rate": round(float(teacher_decide.mean()), 4)}
