"""Attribution: where a verified submission's gain came from, measured on the trusted side.

After a submission is verified, its code runs three more times on the same secret seeds, each time with one
knowledge source taken away (:data:`ABLATIONS`, bundles of the same shape as the real one), through the same
trusted run path as verification (:mod:`aar.execution.trusted_run`). Each ablated student is scored like the
verified one and paired with it on the same seeds and items, so every drop has an interval and a p-value.
From those the result gets a decomposition of its PGR and a class (:mod:`aar.results.attribution`), and the
campaign's policy says whether that class may rank.

Cost: three more sandboxed children per submission. Measured on the 2-core CPU machine, chat's embedded
testbed with 5 seeds: see the README's attribution section (the ablations run cached by content, so a
re-scan or an identical resubmission costs nothing).

What an inside-the-child witness adds: the audit stream records texts a method fed to a packaged encoder that
are not task inputs (``encode_foreign``; the zero-shot anchor sentences of a researcher), and the snapshot is
searched for label tables (:mod:`aar.execution.carried_labels`). Both are evidence; the class rests on the
ablations, which do not depend on how the code is written.

Not covered: on an ``hf:`` student the model reads prompts (real text) inside the child, so method code can
read them too; the ``no_text`` ablation there hides ``ctx.unlabeled`` but not the prompt table, and the record
says ``text_ablation: partial``. ``no_strong`` needs feature vectors and is not applicable there either.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from aar.execution import Executor, MethodFailed
from aar.execution.carried_labels import carried_labels
from aar.execution.trusted_run import RunRequest, run_cached
from aar.results.attribution import (
    ATTRIBUTION_SEEDS,
    TEXT_DROP,
    TEXT_P,
    ZERO_SHOT_SHARE,
    AblationRecord,
    AttributionClass,
    AttributionPolicy,
    AttributionRecord,
    Decomposition,
)
from aar.results.intervals import IntervalRecord
from aar.results.verification import AuditSummary
from aar.sandbox.audit import AuditRecord
from aar.stats.bootstrap import finite
from aar.stats.decompose import decompose_pgr
from aar.w2s import RunResult, Testbed
from aar.w2s.bundle import BundleOptions

ABLATIONS: dict[str, BundleOptions] = {
    "no_teacher": BundleOptions(teacher="shuffled"),
    "no_text": BundleOptions(text="hidden"),
    "no_strong": BundleOptions(teacher="shuffled", features="noise"),
}
SPLITS = ("test",)  # what an ablated run predicts: attribution is about the verified test result


def ablate(bed: Testbed, request: RunRequest, verified: RunResult, name: str, executor: Executor,
           heartbeat: Callable[[], None] | None = None) -> tuple[AblationRecord, np.ndarray | None]:
    """One ablation of a verified run (``verified``: restricted to the request's seeds): re-run with
    ``ABLATIONS[name]``, score, pair with the verified run. Returns the record and the ablated student's test
    correctness (None when it did not run)."""
    if name == "no_strong" and not bed.strong_backend.vectors:
        return AblationRecord(status="not_applicable", reason="an LM student's inputs are prompts, not vectors"), None
    started = time.monotonic()
    ablated_request = replace(request, splits=SPLITS, options=ABLATIONS[name])
    try:
        ran = run_cached(bed, ablated_request, executor, kind="ablation", heartbeat=heartbeat)
    except MethodFailed as exc:
        return AblationRecord(status="not_applicable" if exc.not_applicable else "failed",
                              reason=exc.public(), seconds=time.monotonic() - started), None
    run = verified.with_student(request.entry, request.params, {"test": ran.probs["test"]})
    summary, paired = run.summary("test"), verified.versus(run, "test")
    same = float(np.mean((ran.probs["test"] > 0.5) == (verified.student["test"] > 0.5)))
    record = AblationRecord(pgr=IntervalRecord.of(summary.pgr), student_acc=IntervalRecord.of(summary.student_acc),
                            drop=IntervalRecord.of(paired.diff), p_value=finite(paired.p_value),
                            agreement=round(same, 4), seconds=round(time.monotonic() - started, 3))
    return record, run.correct("student", "test")


def on_seeds(run: RunResult, seeds: list[int]) -> RunResult:
    """``run`` restricted to some of its seeds (same items, teacher, ceiling)."""
    rows = [run.seeds.index(s) for s in seeds]

    def pick(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: v[rows] for k, v in d.items()}

    return replace(run, seeds=list(seeds), weak=pick(run.weak), ceiling=pick(run.ceiling), student=pick(run.student))


def decompose(verified: RunResult, records: dict[str, AblationRecord],
              correct: dict[str, np.ndarray | None]) -> Decomposition:
    """Teacher / strong prior / neither, each with its bootstrap interval (:mod:`aar.stats.decompose`). A failed
    ablation took its source away and left nothing (PGR 0); one not run leaves its part at 0."""

    def ablated(name: str) -> np.ndarray | float | None:
        if correct.get(name) is not None:
            return correct[name]
        record = records.get(name)
        return 0.0 if record is not None and record.status == "failed" else None

    parts = decompose_pgr(verified.correct("weak", "test"), verified.correct("ceiling", "test"),
                          verified.correct("student", "test"), ablated("no_teacher"), ablated("no_text"),
                          ablated("no_strong"), groups=verified.groups["test"])
    return Decomposition(teacher_interval=IntervalRecord.of(parts.teacher),
                         strong_prior_interval=IntervalRecord.of(parts.strong_prior),
                         researcher_interval=IntervalRecord.of(parts.researcher))


def beats_weak(ablations: dict[str, AblationRecord], weak_bar: float) -> bool:
    """With neither teacher nor strong features, the student's accuracy interval lies above ``weak_bar`` (the
    weak model's accuracy, or the majority class's share when that is higher)."""
    neither = ablations.get("no_strong")
    return neither is not None and neither.ok and (neither.student_acc.lo or 0.0) > weak_bar


def classify(pgr: IntervalRecord, ablations: dict[str, AblationRecord], carried: list[dict],
             weak_bar: float) -> tuple[AttributionClass, list[str]]:
    """The class and the reasons for it, first match wins (see :mod:`aar.results.attribution`)."""
    neither, text, teacher = ablations.get("no_strong"), ablations.get("no_text"), ablations.get("no_teacher")
    reasons = []
    if carried:
        best = max(carried, key=lambda c: c["items"])
        # how well it agrees is the operator's to read (carried_labels): told to the submitter, the agreement
        # of a table with the test labels would be an accuracy oracle on any vector it chose
        reasons.append(f"the code carries a label table: {best['file']} agrees with the {best['matches']} labels "
                       "far above chance")
    if neither is not None and beats_weak(ablations, weak_bar):
        reasons.append(f"with neither teacher nor strong features the student still scores "
                       f"{neither.student_acc.mean:.3f} (lower bound {neither.student_acc.lo:.3f}) above the bar "
                       f"{weak_bar:.3f} (weak model or majority class)")
    if reasons:
        return AttributionClass.RESEARCHER_KNOWLEDGE, reasons
    if text is not None and text.status == "failed":
        return AttributionClass.READS_TEXT, [f"the method fails when the raw text is hidden ({text.reason})"]
    if (text is not None and text.ok and text.drop.mean is not None and text.drop.mean >= TEXT_DROP
            and (text.p_value if text.p_value is not None else 1.0) < TEXT_P):
        return AttributionClass.READS_TEXT, [
            f"hiding the raw text costs {text.drop.mean:.2f} PGR (p {text.p_value:.3g}): the gain comes from "
            "reading the inputs, not from the models"]
    full = pgr.mean
    if (teacher is not None and teacher.ok and full is not None and full > 0 and teacher.pgr.mean is not None
            and teacher.pgr.mean > ZERO_SHOT_SHARE * full and (teacher.pgr.lo or 0.0) > 0):
        return AttributionClass.ZERO_SHOT, [
            f"{min(teacher.pgr.mean / full, 1.0):.0%} of PGR {full:.2f} survives a shuffled teacher "
            f"(PGR {teacher.pgr.mean:.2f} without it): the strong model's own knowledge, not the teacher's"]
    return AttributionClass.W2S, []


def encoder_texts(audit: AuditRecord | AuditSummary | None) -> dict:
    """What the audit stream says the method fed to packaged encoders that is not a task input."""
    if audit is None or not audit.counts.get("encode_foreign"):
        return {}
    samples = list(dict.fromkeys(e.get("sample", "") for e in audit.events if e.get("kind") == "encode_foreign"))
    return {"calls": audit.counts["encode_foreign"], "samples": samples[:5]}


def attribute(bed: Testbed, request: RunRequest, verified: RunResult, executor: Executor,
              heartbeat: Callable[[], None] | None = None, policy: AttributionPolicy | None = None,
              audit: AuditRecord | AuditSummary | None = None) -> AttributionRecord:
    """Run the ablations of a verified run and classify it. ``verified``: the method's run on the verification
    seeds, paired with vanilla (``trusted_run.paired_with_vanilla``); the ablations use its first
    ``ATTRIBUTION_SEEDS``. ``no_strong`` runs only where the student without its teacher can still beat the
    bar: a student that falls to the weak model's level with a shuffled teacher cannot beat it with a shuffled
    teacher *and* noise features unless the method tells the two bundles apart, and a method that does so in
    order to be flagged is no threat. That saves one sandboxed run for every honest submission."""
    policy = policy or AttributionPolicy()
    started = time.monotonic()
    seeds = list(request.seeds)[:ATTRIBUTION_SEEDS]
    request, verified = replace(request, seeds=tuple(seeds)), on_seeds(verified, seeds)
    summary = verified.summary("test")
    prior = float(bed.labels["test"].mean())
    bar = max(summary.weak_acc.mean, prior, 1 - prior)
    records: dict[str, AblationRecord] = {}
    correct: dict[str, np.ndarray | None] = {}
    for name in ABLATIONS:
        teacher = records.get("no_teacher")
        if name == "no_strong" and teacher is not None and teacher.ok and (teacher.student_acc.hi or 0.0) <= bar:
            records[name] = AblationRecord(status="skipped", reason=(
                f"without its teacher the student's test accuracy is at most {teacher.student_acc.hi:.3f}, not above "
                f"the bar {bar:.3f}: with noise features as well it cannot be"))
            continue
        records[name], correct[name] = ablate(bed, request, verified, name, executor, heartbeat)
    pgr = IntervalRecord.of(summary.pgr)
    splits = {s: ([e.id for e in bed.task.splits[s]], bed.labels[s]) for s in bed.task.splits}
    carried = carried_labels(request.snapshot, splits) if request.snapshot else []
    kind, reasons = classify(pgr, records, carried, bar)
    texts = encoder_texts(audit)
    if texts and kind in (AttributionClass.ZERO_SHOT, AttributionClass.W2S):
        # the texts themselves stay in encoder_texts (operator's view): the method chose them, on private inputs
        reasons.append(f"fed texts of its own to a packaged encoder in {texts['calls']} call(s)")
    return AttributionRecord(kind=kind, allowed=policy.allows(kind), reasons=reasons, ablations=records,
                             decomposition=decompose(verified, records, correct), carried_labels=carried,
                             encoder_texts=texts, beats_weak_without_sources=beats_weak(records, bar),
                             text_ablation="complete" if bed.strong_backend.vectors else "partial",
                             seeds=len(seeds), pgr=pgr, seconds=round(time.monotonic() - started, 3))
