"""Server-side scoring of dev predictions. Labels are read here and never leave this module's process."""

from __future__ import annotations

import threading

import numpy as np

from aar.errors import AarError
from aar.w2s import Testbed, TestbedConfig

REFERENCE_SEEDS = (0, 1, 2, 3, 4)


class DevScorer:
    """Accuracy and PGR of a prediction vector on a task's dev split.

    PGR uses the weak and ceiling dev accuracies of the default testbed, averaged over fixed seeds and
    computed once per task (the artifact cache makes this cheap after the first time).
    """

    def __init__(self, weak: str | None = None, strong: str | None = None):
        self.weak, self.strong = weak, strong
        self._tasks: dict[str, tuple[dict[str, int], float, float]] = {}
        self._lock = threading.Lock()

    def _load(self, task: str) -> tuple[dict[str, int], float, float]:
        with self._lock:
            if task not in self._tasks:
                kwargs = {k: v for k, v in (("weak", self.weak), ("strong", self.strong)) if v}
                bed = Testbed(TestbedConfig(task=task, **kwargs))
                labels = {e.id: int(e.label) for e in bed.task.splits["dev"]}
                y = bed.labels["dev"]
                weak = float(np.mean([((bed.weak_run(s)["dev"] > 0.5) == y).mean() for s in REFERENCE_SEEDS]))
                ceiling = float(np.mean([((bed.ceiling_run(s)["dev"] > 0.5) == y).mean() for s in REFERENCE_SEEDS]))
                self._tasks[task] = (labels, weak, ceiling)
            return self._tasks[task]

    def dev_ids(self, task: str) -> set[str]:
        return set(self._load(task)[0])

    def score(self, task: str, predictions: dict[str, float]) -> tuple[float, float | None]:
        labels, weak, ceiling = self._load(task)
        if set(predictions) != set(labels):
            missing, extra = len(set(labels) - set(predictions)), len(set(predictions) - set(labels))
            raise AarError(f"predictions must cover exactly the dev ids of {task!r} "
                           f"({missing} missing, {extra} unknown)")
        correct = sum(int((predictions[i] > 0.5) == bool(y)) for i, y in labels.items())
        accuracy = correct / len(labels)
        gap = ceiling - weak
        pgr = (accuracy - weak) / gap if abs(gap) > 1e-9 else None
        return accuracy, pgr
