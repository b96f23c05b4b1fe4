"""Admin API (admin token only): campaigns, agents, budgets, the evaluation log, the submission queue,
and quarantine decisions on submissions."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import StreamingResponse
from pydantic import Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aar.results.api import (
    AgentCreated,
    CampaignList,
    CampaignStatus,
    CampaignView,
    EvaluationLine,
    HeritageImported,
    Leaderboard,
    LedgerToken,
    QueuePage,
    QueueRow,
    SeedPredictionLine,
    StatusChange,
)
from aar.results.submission import SCORED
from aar.results.submission import SubmissionStatus as Status
from aar.server.api import Body
from aar.server.auth import (
    NAME,
    TASK,
    agent_by_name,
    campaign_by_name,
    db,
    ledger_token,
    require_admin,
    token_digest,
)
from aar.server.heritage import Heritage, export_heritage, import_heritage
from aar.server.models import (
    Agent,
    Campaign,
    Evaluation,
    SeedPrediction,
    Submission,
)
from aar.server.vectors import VectorReader
from aar.server.views import (
    BUDGET_FIELDS,
    agent_views,
    campaign_totals,
    iso,
    leaderboard_rows,
)

router = APIRouter(prefix="/v1/admin", dependencies=[Depends(require_admin)])
Seeds = Annotated[list[Annotated[int, Field(ge=0, le=2**31 - 1)]], Field(min_length=1, max_length=50)]


class CampaignIn(Body):
    name: str = Field(pattern=NAME.pattern)
    dev_budget: int = Field(default=50, ge=0, le=100_000)
    submit_budget: int = Field(default=10, ge=0, le=10_000)
    round_digits: int = Field(default=2, ge=0, le=4)
    verify_seeds: Seeds = Field(default_factory=lambda: [1000, 1001, 1002, 1003, 1004])
    verify_timeout_s: int = Field(default=1800, ge=10, le=7 * 86400)
    agent_usd_budget: float = Field(default=5.0, ge=0, le=1e6)
    agent_token_budget: int = Field(default=5_000_000, ge=0, le=10**12)
    agent_compute_s_budget: float = Field(default=7200.0, ge=0, le=1e8)
    agent_wall_s_budget: float = Field(default=7200.0, ge=0, le=1e8)
    campaign_usd_budget: float = Field(default=50.0, ge=0, le=1e7)
    campaign_token_budget: int = Field(default=100_000_000, ge=0, le=10**13)
    campaign_compute_s_budget: float = Field(default=86400.0, ge=0, le=1e9)
    campaign_wall_s_budget: float = Field(default=86400.0, ge=0, le=1e9)
    campaign_dev_budget: int = Field(default=100_000, ge=0, le=10**7)
    allow_zero_shot: bool = True  # attribution policy (aar.results.attribution): set once, at creation
    allow_text_reading: bool = False


class CampaignPatch(Body):
    dev_budget: int | None = Field(default=None, ge=0, le=100_000)
    submit_budget: int | None = Field(default=None, ge=0, le=10_000)
    round_digits: int | None = Field(default=None, ge=0, le=4)
    verify_seeds: Seeds | None = None
    verify_timeout_s: int | None = Field(default=None, ge=10, le=7 * 86400)
    agent_usd_budget: float | None = Field(default=None, ge=0, le=1e6)
    agent_token_budget: int | None = Field(default=None, ge=0, le=10**12)
    agent_compute_s_budget: float | None = Field(default=None, ge=0, le=1e8)
    agent_wall_s_budget: float | None = Field(default=None, ge=0, le=1e8)
    campaign_usd_budget: float | None = Field(default=None, ge=0, le=1e7)
    campaign_token_budget: int | None = Field(default=None, ge=0, le=10**13)
    campaign_compute_s_budget: float | None = Field(default=None, ge=0, le=1e9)
    campaign_wall_s_budget: float | None = Field(default=None, ge=0, le=1e9)
    campaign_dev_budget: int | None = Field(default=None, ge=0, le=10**7)


class AgentIn(Body):
    name: str = Field(pattern=NAME.pattern)


class QuarantineIn(Body):
    reason: str = Field(min_length=1, max_length=4000)


def _campaign_fields(c: Campaign) -> dict:
    return dict(name=c.name, dev_budget=c.dev_budget, submit_budget=c.submit_budget, round_digits=c.round_digits,
                verify_seeds=c.verify_seeds, verify_timeout_s=c.verify_timeout_s,
                **{k: getattr(c, k) for k in BUDGET_FIELDS}, policy=c.policy, created_at=c.created_at.isoformat())


def _campaign_view(c: Campaign) -> CampaignView:
    return CampaignView(**_campaign_fields(c))


class JSONLines(StreamingResponse):
    media_type = "application/x-ndjson"


def _ndjson(line: type) -> dict:
    """The OpenAPI entry of a JSON-lines export: each line is one ``line`` model (named in the schema)."""
    return {200: {"model": line, "description": f"JSON lines, one {line.__name__} per line"}}


@router.post("/campaigns", status_code=201)
def create_campaign(body: CampaignIn, session: Session = Depends(db)) -> CampaignView:
    campaign = Campaign(**body.model_dump())
    session.add(campaign)
    try:
        session.commit()
    except IntegrityError:
        raise HTTPException(409, f"campaign {body.name!r} exists") from None
    return _campaign_view(campaign)


@router.get("/campaigns")
def list_campaigns(session: Session = Depends(db)) -> CampaignList:
    return CampaignList(campaigns=[_campaign_view(c) for c in session.scalars(select(Campaign).order_by(Campaign.id))])


@router.patch("/campaigns/{campaign}")
def change_campaign(campaign: str, body: CampaignPatch, session: Session = Depends(db)) -> CampaignView:
    """Change budgets and verification settings; queued submissions keep the seeds they were given."""
    owner = campaign_by_name(session, campaign)
    for key, value in body.model_dump(exclude_none=True).items():
        setattr(owner, key, value)
    session.commit()
    return _campaign_view(owner)


@router.post("/campaigns/{campaign}/agents", status_code=201)
def create_agent(campaign: str, body: AgentIn, session: Session = Depends(db)) -> AgentCreated:
    owner = campaign_by_name(session, campaign)
    token = "aar_" + secrets.token_urlsafe(32)
    session.add(Agent(campaign_id=owner.id, name=body.name, token_sha256=token_digest(token)))
    try:
        session.commit()
    except IntegrityError:
        raise HTTPException(409, f"agent {body.name!r} exists in {campaign!r}") from None
    return AgentCreated(campaign=owner.name, agent=body.name, token=token)  # shown once, stored hashed


@router.get("/campaigns/{campaign}/heritage")
def export_campaign_heritage(campaign: str, session: Session = Depends(db)) -> Heritage:
    """What a later campaign inherits from this one: its best allowed verified methods per task (with their
    code) and its forum (aar.server.heritage)."""
    return export_heritage(session, campaign_by_name(session, campaign))


@router.post("/campaigns/{campaign}/heritage")
def import_campaign_heritage(campaign: str, body: Heritage, session: Session = Depends(db)) -> HeritageImported:
    """Start this campaign from an earlier one's methods (queued for re-verification on this campaign's seeds)
    and forum; idempotent per source campaign."""
    try:
        return HeritageImported(campaign=campaign, source=body.source,
                                **import_heritage(session, campaign_by_name(session, campaign), body))
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/campaigns/{campaign}")
def campaign_status(campaign: str, session: Session = Depends(db)) -> CampaignStatus:
    owner = campaign_by_name(session, campaign)
    return CampaignStatus(**_campaign_fields(owner), totals=campaign_totals(session, owner),
                          agents=agent_views(session, owner))


@router.post("/campaigns/{campaign}/agents/{agent}/ledger-token")
def issue_ledger_token(campaign: str, agent: str, session: Session = Depends(db)) -> LedgerToken:
    """The agent's ledger token (:func:`aar.server.auth.ledger_token`), for the process that runs it."""
    me = agent_by_name(session, campaign_by_name(session, campaign), agent)
    return LedgerToken(campaign=campaign, agent=agent, ledger_token=ledger_token(me))


@router.get("/campaigns/{campaign}/evaluations.jsonl", response_class=JSONLines,
            responses=_ndjson(EvaluationLine))
def export_evaluations(campaign: str, session: Session = Depends(db)) -> JSONLines:
    owner = campaign_by_name(session, campaign)
    rows = session.execute(select(Evaluation, Agent.name).join(Agent).where(Evaluation.campaign_id == owner.id)
                           .order_by(Evaluation.id)).all()

    reader = VectorReader(session)

    def lines() -> Iterator[str]:
        for ev, agent_name in rows:
            yield EvaluationLine(id=ev.id, agent=agent_name, time=ev.created_at.isoformat(), task=ev.task,
                                 split=ev.split, sha256=ev.predictions_sha256, accuracy=ev.accuracy, pgr=ev.pgr,
                                 request_id=ev.request_id, predictions=reader.predictions(ev)).model_dump_json() + "\n"

    return JSONLines(lines())


@router.get("/campaigns/{campaign}/leaderboard")
def campaign_leaderboard(campaign: str, task: Annotated[str | None, Query(pattern=TASK)] = None,
                         session: Session = Depends(db)) -> Leaderboard:
    owner = campaign_by_name(session, campaign)
    return Leaderboard(campaign=owner.name, task=task, entries=leaderboard_rows(session, owner, task))


def _queue_row(sub: Submission, agent: str, campaign: str) -> QueueRow:
    return QueueRow(id=sub.id, campaign=campaign, agent=agent, task=sub.task, entry=sub.entry, status=sub.status,
                    attempts=sub.attempts, worker=sub.worker,
                    lease_until=iso(sub.lease_until),
                    submitted_at=sub.created_at.isoformat(),
                    finished_at=iso(sub.finished_at),
                    error=sub.error, result=sub.verification, quarantine_reason=sub.quarantine_reason,
                    inherited=sub.origin)


@router.get("/submissions")
def submission_queue(campaign: Annotated[str | None, Query(pattern=NAME.pattern)] = None,
                     status: Annotated[str | None, Query(pattern=r"^[a-z]{1,16}$")] = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                     before_id: Annotated[int | None, Query(ge=1)] = None,
                     session: Session = Depends(db)) -> QueuePage:
    """Queue state: counts by status and a page of the rows (newest first), with full unrounded results;
    ``more`` says whether older rows follow (ask again with ``before_id`` = ``next_before_id``)."""
    scope = [Submission.campaign_id == campaign_by_name(session, campaign).id] if campaign else []
    counts = dict(session.execute(select(Submission.status, func.count()).where(*scope)
                                  .group_by(Submission.status)).all())
    query = (select(Submission, Agent.name, Campaign.name).join(Agent, Agent.id == Submission.agent_id)
             .join(Campaign, Campaign.id == Submission.campaign_id).where(*scope))
    if status:
        query = query.where(Submission.status == status)
    if before_id is not None:
        query = query.where(Submission.id < before_id)
    rows = session.execute(query.order_by(Submission.id.desc()).limit(limit + 1)).all()
    page, more = rows[:limit], len(rows) > limit
    return QueuePage(counts=counts, submissions=[_queue_row(s, a, c) for s, a, c in page], more=more,
                     next_before_id=page[-1][0].id if more else None)


def _submission(session: Session, submission_id: int) -> Submission:
    sub = session.get(Submission, submission_id)
    if sub is None:
        raise HTTPException(404, "no such submission")
    return sub


@router.post("/submissions/{submission_id}/quarantine")
def quarantine(submission_id: int, body: QuarantineIn, session: Session = Depends(db)) -> StatusChange:
    sub = _submission(session, submission_id)
    if sub.status not in SCORED:
        raise HTTPException(409, f"only verified submissions can be quarantined (this one is {sub.status})")
    if sub.status == Status.QUARANTINED:
        sub.quarantine_reason = body.reason
    else:
        sub.move_to(Status.QUARANTINED, quarantine_reason=body.reason)
    session.commit()
    return StatusChange(id=sub.id, status=Status(sub.status))


@router.post("/submissions/{submission_id}/clear")
def clear(submission_id: int, session: Session = Depends(db)) -> StatusChange:
    sub = _submission(session, submission_id)
    if sub.status != Status.QUARANTINED:
        raise HTTPException(409, f"submission is {sub.status}, not quarantined")
    sub.move_to(Status.VERIFIED, quarantine_reason=None)
    session.commit()
    return StatusChange(id=sub.id, status=Status(sub.status))


@router.post("/submissions/{submission_id}/requeue")
def requeue(submission_id: int, session: Session = Depends(db)) -> StatusChange:
    sub = _submission(session, submission_id)
    if sub.status != Status.FAILED:
        raise HTTPException(409, f"only failed submissions can be re-queued (this one is {sub.status})")
    sub.move_to(Status.QUEUED, attempts=0, error=None, worker=None, lease_until=None)
    session.commit()
    return StatusChange(id=sub.id, status=Status(sub.status))


@router.get("/submissions/{submission_id}/predictions.jsonl", response_class=JSONLines,
           responses=_ndjson(SeedPredictionLine))
def seed_predictions(submission_id: int, session: Session = Depends(db)) -> JSONLines:
    _submission(session, submission_id)
    rows = session.scalars(select(SeedPrediction).where(SeedPrediction.submission_id == submission_id)
                           .order_by(SeedPrediction.seed, SeedPrediction.split)).all()
    lines = (SeedPredictionLine(seed=r.seed, split=r.split, predictions=r.predictions).model_dump_json() + "\n"
             for r in rows)
    return JSONLines(lines)
