"""``aar integrity scan``: run every detector over a campaign, store the findings, quarantine what they flag.

Re-scanning is idempotent (a finding's fingerprint is its detector, agent, submission and task) and keeps
the admin's review: a cleared finding stays cleared and no longer quarantines. Agent-level critical
findings (what an agent tried in its own shell or experiments) quarantine all of that agent's verified
submissions: a researcher that tried to read labels is not trusted with a leaderboard place.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from aar.errors import AarError
from aar.execution import ExecutionSettings
from aar.integrity.ablation import attribute_later, findings_of
from aar.integrity.detectors import (
    EvaluationRecord,
    ExperimentRecord,
    SubmissionRecord,
    ToolCallRecord,
    above_ceiling,
    constant_predictions,
    dev_overfitting,
    label_probing,
    random_queries,
    sandbox_audit,
    shell_commands,
)
from aar.integrity.findings import Finding
from aar.results.attribution import AttributionRecord
from aar.results.submission import SCORED
from aar.results.submission import SubmissionStatus as Status
from aar.results.verification import VerificationResult
from aar.server.models import (
    Agent,
    Campaign,
    Evaluation,
    Experiment,
    IntegrityFinding,
    SeedPrediction,
    Snapshot,
    Submission,
    TranscriptEvent,
)
from aar.server.vectors import VectorReader
from aar.stats.ranking import rank_key

ABLATE_TOP = 3  # per task, the best verified submissions get a teacher ablation


def load_records(session: Session, campaign: Campaign) -> tuple[list, list, list, list, dict[str, int]]:
    names = dict(session.execute(select(Agent.id, Agent.name).where(Agent.campaign_id == campaign.id)).all())
    reader = VectorReader(session)
    evaluations = [EvaluationRecord(e.id, names[e.agent_id], e.task, reader.predictions(e), e.pgr)
                   for e in session.scalars(select(Evaluation).where(Evaluation.campaign_id == campaign.id)
                                            .order_by(Evaluation.id))]
    submissions = []
    for sub in session.scalars(select(Submission).where(Submission.campaign_id == campaign.id)
                               .order_by(Submission.id)):
        test = {row.seed: row.predictions for row in session.scalars(
            select(SeedPrediction).where(SeedPrediction.submission_id == sub.id, SeedPrediction.split == "test"))}
        submissions.append(SubmissionRecord(sub.id, names[sub.agent_id], sub.task, sub.status,
                                           VerificationResult.read(sub.result), test))
    calls = []
    for event, agent_id in session.execute(
            select(TranscriptEvent, TranscriptEvent.agent_id).where(TranscriptEvent.agent_id.in_(list(names)),
                                                                    TranscriptEvent.kind == "tool")
            .order_by(TranscriptEvent.id)):
        data = event.data or {}
        calls.append(ToolCallRecord(names[agent_id], event.seq, str(data.get("name", "")),
                                    data.get("arguments") or {}, str(data.get("result", ""))))
    budgets = {names[a]: campaign.dev_budget for a in names}
    experiments = [ExperimentRecord(e.number, names[e.agent_id], e.task, dict((e.result or {}).get("audit") or {}))
                   for e in session.scalars(select(Experiment).where(Experiment.campaign_id == campaign.id)
                                            .order_by(Experiment.id))]
    return evaluations, submissions, calls, experiments, budgets


def teacher_decisions(evaluations: list[EvaluationRecord]) -> dict[str, dict[str, bool]]:
    """The weak teacher's dev decisions (id -> above 0.5) of every task the campaign evaluated on: the trained
    predictor that honest queries agree with and coin flips do not (:func:`random_queries`). Seed 0 of the
    default testbed, from the artifact cache."""
    from aar.w2s import Testbed, TestbedConfig

    out = {}
    for task in sorted({e.task for e in evaluations}):
        try:
            bed = Testbed(TestbedConfig(task=task))
        except AarError:  # a task removed since: nothing to compare with
            continue
        probs = bed.weak_run(0)["dev"]
        out[task] = {e.id: bool(p > 0.5) for e, p in zip(bed.task.splits["dev"], probs, strict=True)}
    return out


def detect(session: Session, campaign: Campaign, ablation: bool = True, ablate_top: int = ABLATE_TOP,
           settings: ExecutionSettings | None = None) -> list[Finding]:
    evaluations, submissions, calls, experiments, budgets = load_records(session, campaign)
    verified = [s for s in submissions if s.status in SCORED and s.result]
    findings = [*label_probing(evaluations, budgets), *random_queries(evaluations, teacher_decisions(evaluations)),
                *constant_predictions(evaluations, verified), *dev_overfitting(evaluations, verified),
                *above_ceiling(verified), *sandbox_audit(submissions, experiments), *shell_commands(calls)]
    if ablation:  # the top clean submissions per task: flagged ones leave the leaderboard anyway
        flagged = {f.submission_id for f in findings if f.flags}
        agents_flagged = {f.agent for f in findings if f.flags and f.submission_id is None}
        clean = [s for s in verified if s.id not in flagged and s.agent not in agents_flagged]
        findings += _ablations(session, campaign, clean, ablate_top,
                               settings or ExecutionSettings.from_environment())
    return findings


def _ablations(session: Session, campaign: Campaign, verified: list[SubmissionRecord], top: int,
               settings: ExecutionSettings) -> list[Finding]:
    """Findings from every clean verified submission's attribution. Results verified before attribution existed
    are attributed now, the best ``top`` per task (their record is stored with the result)."""
    by_task: dict[str, list[SubmissionRecord]] = {}
    for sub in sorted(verified, key=lambda s: rank_key(s.result.pgr.mean if s.result else None, s.id)):
        by_task.setdefault(sub.task, []).append(sub)
    policy = campaign.policy
    found = []
    for subs in by_task.values():
        for position, sub in enumerate(subs):
            record = sub.result.attribution if sub.result else None
            if record is None and position < top:
                record = _attribute_stored(session, campaign, sub, settings)
            if record is not None:
                found += findings_of(record, policy, sub.id, sub.agent, sub.task,
                                     sub.result.pgr.mean if sub.result else None)
    return found


def _attribute_stored(session: Session, campaign: Campaign, sub: SubmissionRecord,
                      settings: ExecutionSettings) -> AttributionRecord | None:
    row = session.get(Submission, sub.id)
    snapshot = session.get(Snapshot, row.snapshot_sha256) if row else None
    if row is None or snapshot is None or sub.result is None:
        return None
    record = attribute_later(row.task, row.entry, dict(row.params), list(row.seeds), snapshot.data,
                             float(campaign.verify_timeout_s), campaign.policy, sub.test_predictions,
                             sub.result.audit, settings)
    if record is not None:
        row.result = {**(row.result or {}), "attribution": record.model_dump(mode="json")}
        session.flush()
    return record


def store(session: Session, campaign: Campaign, findings: list[Finding]) -> dict:
    """Upsert findings; quarantine every verified submission with an open flagging finding. Returns counts."""
    agents = dict(session.execute(select(Agent.name, Agent.id).where(Agent.campaign_id == campaign.id)).all())
    existing = {f.fingerprint: f for f in session.scalars(
        select(IntegrityFinding).where(IntegrityFinding.campaign_id == campaign.id))}
    new = 0
    for finding in findings:
        key = finding.fingerprint()
        row = existing.get(key)
        if row is None:
            row = IntegrityFinding(campaign_id=campaign.id, agent_id=agents[finding.agent], fingerprint=key,
                                   submission_id=finding.submission_id)
            session.add(row)
            existing[key] = row
            new += 1
        row.detector, row.severity, row.summary = finding.detector, finding.severity, finding.summary
        row.evidence = {"task": finding.task, **finding.evidence}
    session.flush()
    quarantined = apply_quarantine(session, campaign)
    session.commit()
    return {"findings": len(findings), "new": new, "quarantined": quarantined}


def apply_quarantine(session: Session, campaign: Campaign) -> list[int]:
    """Quarantine verified submissions with open (not cleared) critical or warning findings, directly or
    through their agent; give the reasons. Returns the ids now quarantined."""
    open_rows = session.scalars(select(IntegrityFinding).where(
        IntegrityFinding.campaign_id == campaign.id, IntegrityFinding.severity.in_(("critical", "warning")),
        (IntegrityFinding.review.is_(None)) | (IntegrityFinding.review == "confirmed"))).all()
    reasons: dict[int, list[str]] = {}
    subs = session.scalars(select(Submission).where(Submission.campaign_id == campaign.id,
                                                    Submission.status.in_(SCORED))).all()
    for row in open_rows:
        targets = [s for s in subs if s.id == row.submission_id] if row.submission_id else \
            [s for s in subs if s.agent_id == row.agent_id and row.severity == "critical"]
        for sub in targets:
            reasons.setdefault(sub.id, []).append(f"[{row.detector}] {row.summary}")
    for sub in subs:
        if sub.id in reasons:
            reason = "integrity: " + "; ".join(reasons[sub.id])[:3900]
            if sub.status == Status.QUARANTINED:
                sub.quarantine_reason = reason
            else:
                sub.move_to(Status.QUARANTINED, quarantine_reason=reason)
        elif sub.status == Status.QUARANTINED and (sub.quarantine_reason or "").startswith("integrity: "):
            sub.move_to(Status.VERIFIED, quarantine_reason=None)  # its findings were all cleared
    return sorted(reasons)


def scan(session: Session, campaign: Campaign, ablation: bool = True, ablate_top: int = ABLATE_TOP,
         settings: ExecutionSettings | None = None) -> tuple[list[Finding], dict]:
    """``settings``: where the ablations' sandboxed runs go (default: what this process was started with)."""
    findings = detect(session, campaign, ablation, ablate_top, settings)
    return findings, store(session, campaign, findings)


def review(session: Session, campaign: Campaign, finding_id: int, decision: str) -> IntegrityFinding:
    if decision not in ("cleared", "confirmed"):
        raise ValueError("decision must be cleared or confirmed")
    row = session.get(IntegrityFinding, finding_id)
    if row is None or row.campaign_id != campaign.id:
        from aar.errors import AarError

        raise AarError(f"no finding {finding_id} in campaign {campaign.name!r}")
    row.review = decision
    session.flush()
    apply_quarantine(session, campaign)
    session.commit()
    return row
