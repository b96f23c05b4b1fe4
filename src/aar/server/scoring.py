"""Server-side scoring of dev predictions. Labels are read here and never leave this module's process.

What an agent gets back is one coarse, randomized number per query, so that no history of queries can be
decoded into labels (the reference experiment's agents did exactly that):

- **One number.** PGR (or, where a task has no weak-ceiling gap, accuracy), never both: with both, and
  weak and ceiling accuracies that are means of integer counts, an exact count of correct items follows.
- **A fresh random subsample per query.** The score is computed on a share of the dev items
  (:func:`subsample_size`), drawn with a secure generator each time, chosen so that even flipping a group
  of 8 items moves the answer by no more than the noise between two answers (code: 110 of 186 items, noise
  sd 3.4 items per answer). Flipping one item moves the expected count by 0.6 items, so an adaptive
  attacker needs hundreds of queries per label, not one.
- **A resolution derived from n and the gap.** The number is rounded to ``resolution(m, gap)``: two items
  of the m scored, in PGR units (``2 / (m * gap)``), rounded up to a multiple of 0.05. A reply can never be
  decoded into an exact count, and the rounding noise (step / sqrt(12)) stays well under the dev split's own
  sampling error.

Weak and ceiling dev accuracies come from the default testbed, averaged over fixed seeds and computed once
per task (the artifact cache makes this cheap after the first time). The exact full-split accuracy and PGR
are kept in the evaluation log for the integrity detectors; agents never see them.
"""

from __future__ import annotations

import math
import secrets
import threading
from dataclasses import dataclass

import numpy as np

from aar.errors import AarError
from aar.server.vectors import order_sha256
from aar.stats.pgr import pgr_value
from aar.w2s import Testbed, TestbedConfig

REFERENCE_SEEDS = (0, 1, 2, 3, 4)
PROBE_GROUP = 8  # an attacker's group of flipped items that one pair of queries must not resolve
MIN_GAP = 0.02  # below this weak-ceiling gap, PGR is noise: accuracy is reported instead
PGR_STEP_UNIT, ACCURACY_STEP_UNIT = 0.05, 0.005


def subsample_size(n: int) -> int:
    """Items scored per query: the largest share f at which flipping a group of g = ``PROBE_GROUP`` items
    moves the expected count (f g) by no more than the sd of the difference of two answers,
    sqrt(2 n f (1 - f) / 4) (sampling without replacement, p = 1/2). Solving f g = that sd gives
    f = 0.5 n / (g^2 + 0.5 n): chat (313 dev items) 0.71, math (786) 0.86, code (186) 0.59."""
    share = 0.5 * n / (PROBE_GROUP**2 + 0.5 * n)
    return max(1, min(n, round(share * n)))


def resolution(m: int, gap: float | None) -> float:
    """Reporting step for m scored items: two items' worth, rounded up to a round unit."""
    if gap is not None and gap > MIN_GAP:
        return math.ceil(2 / (m * gap) / PGR_STEP_UNIT - 1e-9) * PGR_STEP_UNIT
    return math.ceil(2 / m / ACCURACY_STEP_UNIT - 1e-9) * ACCURACY_STEP_UNIT


@dataclass(frozen=True)
class DevScore:
    accuracy: float  # exact, on the full dev split (server-side only)
    pgr: float | None  # exact, on the full dev split (server-side only)
    metric: str  # what the agent gets: "pgr" or "accuracy"
    reported: float  # the one coarse number the agent gets
    resolution: float
    items_scored: int


class DevScorer:
    """Accuracy and PGR of a prediction vector on a task's dev split, and the coarse number for agents."""

    def __init__(self, weak: str | None = None, strong: str | None = None):
        self.weak, self.strong = weak, strong
        self._tasks: dict[str, tuple[list[str], np.ndarray, float, float]] = {}
        self._orders: dict[str, tuple[str, list[str]]] = {}
        self._lock = threading.Lock()

    def _load(self, task: str) -> tuple[list[str], np.ndarray, float, float]:
        with self._lock:
            if task not in self._tasks:
                kwargs = {k: v for k, v in (("weak", self.weak), ("strong", self.strong)) if v}
                bed = Testbed(TestbedConfig(task=task, **kwargs))
                # the canonical order (sorted ids): logged vectors use it too (see aar.server.vectors)
                dev = sorted(bed.task.splits["dev"], key=lambda e: e.id)
                ids = [e.id for e in dev]
                labels = np.array([e.y for e in dev], dtype=np.bool_)
                y = bed.labels["dev"]
                weak = float(np.mean([((bed.weak_run(s)["dev"] > 0.5) == y).mean() for s in REFERENCE_SEEDS]))
                ceiling = float(np.mean([((bed.ceiling_run(s)["dev"] > 0.5) == y).mean() for s in REFERENCE_SEEDS]))
                self._tasks[task] = (ids, labels, weak, ceiling)
            return self._tasks[task]

    def models(self, task: str) -> tuple[str, str]:
        """The weak and strong model this server scores ``task`` with (the task's defaults where not set)."""
        config = TestbedConfig(task=task, **{k: v for k, v in (("weak", self.weak), ("strong", self.strong)) if v})
        return config.weak, config.strong

    def dev_ids(self, task: str) -> set[str]:
        return set(self._load(task)[0])

    def loaded(self, task: str) -> bool:
        """Scoring ``task`` needs no disk or model work (an event loop may call :meth:`score` inline)."""
        return task in self._tasks

    def canonical_order(self, task: str) -> tuple[str, list[str]]:
        """(sha256, ids) of the order vectors are scored and logged in: the task's dev ids, sorted."""
        if task not in self._orders:
            ids = self._load(task)[0]
            self._orders[task] = (order_sha256(ids), ids)
        return self._orders[task]

    def vector(self, task: str, predictions: dict[str, float]) -> np.ndarray:
        """The predictions as float64 in canonical order; they must cover exactly the dev ids."""
        ids = self._load(task)[0]
        try:
            if len(predictions) != len(ids):
                raise KeyError
            return np.fromiter((predictions[i] for i in ids), dtype=np.float64, count=len(ids))
        except KeyError:
            known = set(ids)
            missing, extra = len(known - set(predictions)), len(set(predictions) - known)
            raise AarError(f"predictions must cover exactly the dev ids of {task!r} "
                           f"({missing} missing, {extra} unknown)") from None

    def rule(self, task: str) -> tuple[str, float, int]:
        """(metric, resolution, items scored) of a task: public, the same for every query."""
        ids, _, weak, ceiling = self._load(task)
        m, gap = subsample_size(len(ids)), ceiling - weak
        return ("pgr" if gap > MIN_GAP else "accuracy"), resolution(m, gap), m

    def noise_sd(self, task: str) -> float:
        """How far one reply typically lies from the method's score on the population dev was drawn from, in
        the reply's units: the dev split's own sampling error (n items), the subsample's (m of n, without
        replacement) and the rounding (step / sqrt(12)), at an accuracy halfway between weak and ceiling.
        Fixed per task and public (rounded up to 0.01), so a researcher knows when two replies differ by
        more than noise; it says nothing about any item."""
        ids, _, weak, ceiling = self._load(task)
        metric, step, m = self.rule(task)
        n, p = len(ids), (weak + ceiling) / 2
        variance = p * (1 - p) / n + p * (1 - p) / m * (1 - m / n)
        if metric == "pgr":
            variance /= (ceiling - weak) ** 2
        return math.ceil(100 * math.sqrt(variance + step**2 / 12) - 1e-9) / 100

    def score(self, task: str, predictions: dict[str, float]) -> DevScore:
        return self.score_vector(task, self.vector(task, predictions))

    def score_vector(self, task: str, values: np.ndarray) -> DevScore:
        """Score predictions given as :meth:`vector` returns them: one vector, or a (seeds x items) array
        of a multi-seed experiment, scored the way verification scores it: each seed on its own (the same
        subsample for every seed, so the seeds are compared on the same items), then averaged. Averaging the
        seeds' probabilities first and scoring the mean (a seed ensemble) reads higher than any method
        verifies: one method read 0.55 on the mean file and 0.35 on one seed."""
        ids, labels, weak, ceiling = self._load(task)
        per_seed = np.atleast_2d(values)
        correct = (per_seed > 0.5) == labels[None, :]
        accuracy = float(correct.mean())
        pgr = pgr_value(weak, ceiling, accuracy)
        metric, step, m = self.rule(task)
        rng = np.random.default_rng(secrets.randbits(128))
        sampled = float(correct[:, rng.choice(len(ids), size=m, replace=False)].mean())
        gap_value = pgr_value(weak, ceiling, sampled) if metric == "pgr" else None  # a "pgr" task has a real gap
        value = gap_value if gap_value is not None else sampled
        reported = round(round(value / step) * step, 4)
        return DevScore(accuracy, pgr, metric, reported, step, m)
