"""Findings from attribution: what the knowledge-source ablations of a verified submission say about it.

The ablations run at verification, on the trusted side (:mod:`aar.execution.attribution`); their record is
part of the verified result. This module turns a record into findings with evidence, and attributes results
verified before attribution existed (against the verified student's stored test predictions; the ablations are
cached by content, so a re-scan costs nothing):

- ``carried_labels`` (critical): the code carries a table that agrees with a split's labels beyond chance;
- ``source_ablation`` (critical): with neither teacher nor strong features the student still beats the weak
  model (or the majority class): its labels come from somewhere else;
- ``reads_text`` (critical unless the campaign allows text reading, then a notice): hiding the raw text costs a
  significant part of the gain;
- ``teacher_independent`` (a notice; a warning, which quarantines, when the campaign does not allow zero-shot
  results): most of the gain survives a shuffled teacher, or the student predicts the same class on at least
  90% of test items with it;
- ``encoder_foreign_text`` (notice): the method fed texts of its own to a packaged encoder (zero-shot anchors,
  prompts): evidence of where a zero-shot result's knowledge came from.
"""

from __future__ import annotations

import numpy as np

from aar.execution import ExecutionSettings, executor_for
from aar.execution.attribution import attribute
from aar.execution.trusted_run import MethodRun, RunRequest, paired_with_vanilla
from aar.integrity.findings import Finding
from aar.results.attribution import AttributionClass, AttributionPolicy, AttributionRecord
from aar.results.intervals import format_interval
from aar.results.verification import AuditSummary
from aar.w2s import Testbed, TestbedConfig

INDEPENDENT_AGREEMENT = 0.9  # same class on at least this share of test items under a shuffled teacher


def attribute_later(task: str, entry: str, params: dict, seeds: list[int], snapshot: bytes, timeout_s: float,
                    policy: AttributionPolicy, test_predictions: dict[int, dict[str, float]],
                    audit: AuditSummary | None, settings: ExecutionSettings) -> AttributionRecord | None:
    """Attribution of a result verified before it existed: the ablations, paired with the verified student's
    stored per-seed test predictions (the method is not run again). None when a seed's predictions are missing."""
    bed = Testbed(TestbedConfig(task=task))
    ids = [e.id for e in bed.task.splits["test"]]
    if any(seed not in test_predictions or set(test_predictions[seed]) != set(ids) for seed in seeds):
        return None
    request = RunRequest(entry, params, snapshot, tuple(seeds), timeout_s)
    stored = MethodRun({"test": np.array([[test_predictions[seed][i] for i in ids] for seed in seeds])})
    run, _ = paired_with_vanilla(bed, request, stored)
    return attribute(bed, request, run, executor_for(settings), policy=policy, audit=audit)


def findings_of(record: AttributionRecord, policy: AttributionPolicy, submission_id: int, agent: str, task: str,
                test_pgr: float | None) -> list[Finding]:
    def finding(detector: str, severity: str, summary: str, **evidence) -> Finding:
        return Finding(detector, severity, agent, submission_id=submission_id, task=task,
                       summary=f"submission {submission_id} {summary}",
                       evidence={"class": str(record.kind), "pgr": test_pgr, **evidence})

    found = []
    ablations = {k: v.model_dump(mode="json") for k, v in record.ablations.items()}
    teacher, neither = record.ablations.get("no_teacher"), record.ablations.get("no_strong")
    if record.carried_labels:
        best = max(record.carried_labels, key=lambda c: c["items"])
        found.append(finding("carried_labels", "critical",
                             f"carries a label table: {best['file']} agrees with {best['matches']} on "
                             f"{best['agreement']:.0%} of {best['items']} items (chance {best['chance']:.0%})",
                             tables=record.carried_labels))
    if record.beats_weak_without_sources and neither is not None:
        found.append(finding("source_ablation", "critical",
                             f"scores {format_interval(neither.student_acc, 3)} on test with a shuffled teacher and "
                             "noise for features: its labels come from neither the teacher nor the strong model",
                             accuracy_ablated=neither.student_acc.model_dump(), ablations=ablations))
    if record.kind == AttributionClass.READS_TEXT:
        found.append(finding("reads_text", "notice" if policy.allow_text_reading else "critical",
                             "; ".join(record.reasons), ablations=ablations))
    independent = teacher is not None and teacher.ok and (teacher.agreement or 0.0) >= INDEPENDENT_AGREEMENT
    if record.kind == AttributionClass.ZERO_SHOT or (independent and record.kind == AttributionClass.W2S):
        severity = "notice" if policy.allow_zero_shot else "warning"
        agreement = teacher.agreement if teacher is not None else None
        found.append(finding("teacher_independent", severity,
                             f"does not need the teacher: with a shuffled teacher PGR "
                             f"{'?' if test_pgr is None else f'{test_pgr:.2f}'} -> "
                             f"{format_interval(teacher.pgr) if teacher is not None else '?'}, same class on "
                             f"{'?' if agreement is None else f'{agreement:.0%}'} of test items",
                             agreement=agreement, ablations=ablations))
    if record.encoder_texts:
        found.append(finding("encoder_foreign_text", "notice",
                             f"fed texts of its own to a packaged encoder in {record.encoder_texts.get('calls')} "
                             f"call(s), e.g. {record.encoder_texts.get('samples', [])[:2]}",
                             encoder_texts=record.encoder_texts))
    return found
