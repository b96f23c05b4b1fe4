"""Verification of one submission: re-run its code snapshot on the testbed and score the hidden test split.

The trusted side (this module, inside a worker process) holds the labels; the submitted code runs in a
separate label-free process (:mod:`aar.w2s.isolated`). The student's per-seed predictions are paired with
the weak, ceiling and vanilla runs on the same seeds, so the PGR interval and the paired p-value against
vanilla come from one hierarchical bootstrap (seeds x test items, clustered by source problem).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aar.integrity.audit import summarize
from aar.server.snapshots import check_entry, unpack
from aar.stats.bootstrap import finite
from aar.w2s import Testbed, TestbedConfig
from aar.w2s.isolated import run_isolated, write_bundle
from aar.w2s.pipeline import LAB_SPLITS


@dataclass
class Verified:
    result: dict  # JSON-ready summary: test/dev PGR intervals, accuracies, paired test vs vanilla
    predictions: dict[int, dict[str, dict[str, float]]]  # seed -> split -> example id -> probability


def verify(task: str, entry: str, params: dict, seeds: list[int], snapshot: bytes, workdir: Path,
           timeout_s: float, heartbeat: Callable[[], None] | None = None) -> Verified:
    bed = Testbed(TestbedConfig(task=task))
    code = workdir / "code"
    check_entry(entry, unpack(snapshot, code))
    bundle = workdir / "bundle.pkl"
    write_bundle(bed, seeds, bundle)
    students = run_isolated(bundle, code, entry, params, workdir / "out", timeout_s, heartbeat)
    audit = summarize(workdir / "out")  # what the method tried inside its sandbox (integrity detectors)
    vanilla = bed.run("vanilla", seeds)
    run = vanilla.with_student(entry, params, {s: np.stack([students[seed][s] for seed in seeds]) for s in LAB_SPLITS})
    test, dev, paired = run.summary("test"), run.summary("dev"), run.versus(vanilla, "test")
    baseline = vanilla.summary("test")
    result = {
        "seeds": len(seeds), "test_items": test.items,
        "pgr": test.pgr.as_json(), "student_acc": test.student_acc.as_json(),
        "weak_acc": test.weak_acc.as_json(), "ceiling_acc": test.ceiling_acc.as_json(),
        "dev_pgr": dev.pgr.as_json(), "vanilla_pgr": baseline.pgr.as_json(),
        "vs_vanilla": {"diff": paired.diff.as_json(), "p_value": finite(paired.p_value)},
        "audit": audit,
    }
    ids = {s: [e.id for e in bed.task.splits[s]] for s in LAB_SPLITS}
    predictions = {seed: {s: dict(zip(ids[s], map(float, students[seed][s]), strict=True)) for s in LAB_SPLITS}
                   for seed in seeds}
    return Verified(result, predictions)


