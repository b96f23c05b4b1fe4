"""Verification of one submission: re-run its code snapshot on the testbed and score the hidden test split.

The trusted side (this module, inside a worker process) holds the labels; the submitted code runs through
the execution layer (:mod:`aar.execution`) in a separate label-free process, locally or on a Ray node. The
student's per-seed predictions are paired with the weak, ceiling and vanilla runs on the same seeds, so the
PGR interval and the paired p-value against vanilla come from one hierarchical bootstrap (seeds x test
items, clustered by source problem). The seeds are drawn on the trusted side (:func:`campaign_seeds`), and
the method sees only opaque stand-ins for them (:mod:`aar.w2s.bundle`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from aar.execution import ExecutionSettings, Executor, executor_for
from aar.execution.attribution import attribute
from aar.execution.trusted_run import RunRequest, paired_with_vanilla, run_method
from aar.results.attribution import AttributionPolicy
from aar.results.verification import (
    AuditSummary,
    ExecutionPlace,
    IntervalRecord,
    PairedRecord,
    VerificationResult,
)
from aar.seeds import EXPERIMENT_SEED_LIMIT
from aar.stats.bootstrap import finite
from aar.w2s import Testbed, TestbedConfig
from aar.w2s.bundle import seed_key
from aar.w2s.pipeline import LAB_SPLITS

SEED_FLOOR = EXPERIMENT_SEED_LIMIT  # experiments use seeds below this; verification draws above it
SEED_CEILING = 2**31 - 1


def campaign_seeds(campaign_id: int, configured: list[int]) -> list[int]:
    """A campaign's verification seeds: a keyed hash (this installation's secret key) of the campaign and
    each configured seed, above the experiments' range. Nobody without the key can tell them, so submitted
    code cannot have seen them; all submissions of a campaign share them, so they are paired with each other
    and with one vanilla, weak and ceiling run per seed (drawing them per submission instead costs those
    three fits for every seed of every submission: measured, the kill -9 campaign test went from 215 s to
    393 s)."""
    seeds = []
    for seed in configured:
        digest = hashlib.blake2b(f"verify:{campaign_id}:{int(seed)}".encode(), key=seed_key(), digest_size=8)
        seeds.append(SEED_FLOOR + int.from_bytes(digest.digest(), "big") % (SEED_CEILING - SEED_FLOOR))
    return seeds


@dataclass
class Verified:
    result: VerificationResult  # test/dev PGR intervals, accuracies, paired test vs vanilla, audit, attribution
    predictions: dict[int, dict[str, dict[str, float]]]  # seed -> split -> example id -> probability


def verify(task: str, entry: str, params: dict, seeds: list[int], snapshot: bytes, timeout_s: float,
           heartbeat: Callable[[], None] | None = None, executor: Executor | None = None,
           policy: AttributionPolicy | None = None, identity: str = "") -> Verified:
    """Run the method on the campaign's secret seeds, score it, then attribute its gain (the knowledge-source
    ablations, on the same seeds: :mod:`aar.execution.attribution`). Each run writes its own bundle in a scratch
    folder of the trusted run path. ``identity``: the verification's own sandbox identity (uid and limits)."""
    bed = Testbed(TestbedConfig(task=task))
    executor = executor or executor_for(ExecutionSettings.from_environment())
    request = RunRequest(entry, params, snapshot, tuple(seeds), timeout_s, identity=identity)
    ran = run_method(bed, request, executor, heartbeat)
    run, vanilla = paired_with_vanilla(bed, request, ran)
    test, dev, paired = run.summary("test"), run.summary("dev"), run.versus(vanilla, "test")
    soft = bed.run("soft", list(request.seeds))  # the paper's naive baseline, shown beside vanilla (cached per seed)
    versus_soft = run.versus(soft, "test")
    attribution = attribute(bed, request, run, executor, heartbeat, policy=policy, audit=ran.audit)
    result = VerificationResult(
        seeds=len(seeds), test_items=test.items, pgr=IntervalRecord.of(test.pgr),
        student_acc=IntervalRecord.of(test.student_acc), weak_acc=IntervalRecord.of(test.weak_acc),
        ceiling_acc=IntervalRecord.of(test.ceiling_acc), dev_pgr=IntervalRecord.of(dev.pgr),
        vanilla_pgr=IntervalRecord.of(vanilla.summary("test").pgr),
        vs_vanilla=PairedRecord(diff=IntervalRecord.of(paired.diff), p_value=finite(paired.p_value)),
        soft_pgr=IntervalRecord.of(soft.summary("test").pgr),
        vs_soft=PairedRecord(diff=IntervalRecord.of(versus_soft.diff), p_value=finite(versus_soft.p_value)),
        # what the method tried inside its sandbox (integrity detectors), and where it ran
        audit=AuditSummary.model_validate(ran.audit.as_json()),
        executed_on=ExecutionPlace.model_validate(ran.executed_on), attribution=attribution)
    ids = {s: [e.id for e in bed.task.splits[s]] for s in LAB_SPLITS}
    return Verified(result, ran.by_id(request.seeds, ids))
