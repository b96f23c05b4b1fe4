"""The ledger of one researcher: usage, state and the transcript mirror, written by the process that runs it.

Same paths as the admin API, but a researcher process authenticates with its own *ledger token*
(:func:`aar.server.auth.ledger_token`), which reaches these routes for that one agent and nothing else; the
admin token works too (the operator's tools). The admin token no longer travels to researcher processes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aar.results.api import AgentView, TranscriptPage, TranscriptStored, UsageReply
from aar.results.lifecycle import agent_move
from aar.results.submission import IllegalTransition
from aar.server.api import Body
from aar.server.auth import db, ledger_agent
from aar.server.models import Agent, Campaign, TranscriptEvent, UsageEvent, utcnow
from aar.server.views import BUDGET_FIELDS, agent_spend, agent_view, campaign_totals

router = APIRouter(prefix="/v1/admin")


class UsageIn(Body):
    llm_calls: int = Field(default=0, ge=0, le=10_000)
    input_tokens: int = Field(default=0, ge=0, le=10**9)
    output_tokens: int = Field(default=0, ge=0, le=10**9)
    cached_tokens: int = Field(default=0, ge=0, le=10**9)
    cost_usd: float = Field(default=0.0, ge=0, le=1e5)
    compute_s: float = Field(default=0.0, ge=0, le=1e7)


class StateIn(Body):
    state: str = Field(pattern=r"^[a-z_]{1,16}$")
    reason: str | None = Field(default=None, max_length=200)


class TranscriptEventIn(BaseModel):
    """One transcript line; its fields other than these four are kept as they are (free-form, size-capped
    by the request body limit)."""

    model_config = ConfigDict(extra="allow")
    seq: int = Field(ge=1, le=10**9)
    time: str = Field(max_length=40)
    type: str = Field(pattern=r"^[a-z_]{1,32}$")


class TranscriptIn(Body):
    events: list[TranscriptEventIn] = Field(min_length=1, max_length=1000)


@router.post("/campaigns/{campaign}/agents/{agent}/usage")
def record_usage(body: UsageIn, me: Agent = Depends(ledger_agent), session: Session = Depends(db)) -> UsageReply:
    """Add an agent's usage atomically; answer with its totals, budgets and which budgets are spent."""
    owner = session.get(Campaign, me.campaign_id)
    assert owner is not None
    values = body.model_dump()
    session.execute(update(Agent).where(Agent.id == me.id).values(
        last_seen=utcnow(), **{k: getattr(Agent, k) + v for k, v in values.items()}))
    session.add(UsageEvent(agent_id=me.id, **values))
    session.commit()
    session.refresh(me)
    totals = campaign_totals(session, owner)
    spent = agent_spend(me, owner)
    exceeded = [name for name, used, limit in (
        ("dollars", *spent["usd"]), ("tokens", *spent["tokens"]), ("compute seconds", *spent["compute_s"]),
        ("campaign dollars", totals.cost_usd, owner.campaign_usd_budget),
        ("campaign tokens", totals.tokens, owner.campaign_token_budget),
        ("campaign compute seconds", totals.compute_s, owner.campaign_compute_s_budget),
        ("campaign wall time", totals.wall_s, owner.campaign_wall_s_budget)) if used >= limit]
    return UsageReply(**dict(agent_view(me)), budgets={k: getattr(owner, k) for k in BUDGET_FIELDS},
                      campaign_cost_usd=totals.cost_usd, campaign=totals, exceeded=exceeded)


@router.put("/campaigns/{campaign}/agents/{agent}/state")
def set_state(body: StateIn, me: Agent = Depends(ledger_agent), session: Session = Depends(db)) -> AgentView:
    try:
        state = agent_move(me.state, body.state)
    except IllegalTransition as exc:
        raise HTTPException(409, str(exc)) from None
    me.state, me.stop_reason, me.last_seen = state, body.reason, utcnow()
    session.commit()
    return agent_view(me)


@router.post("/campaigns/{campaign}/agents/{agent}/transcript")
def append_transcript(body: TranscriptIn, me: Agent = Depends(ledger_agent),
                      session: Session = Depends(db)) -> TranscriptStored:
    """Mirror transcript lines; idempotent per ``seq`` (a line sent twice after a lost answer is kept once)."""
    seqs = [e.seq for e in body.events]
    have = set(session.scalars(select(TranscriptEvent.seq).where(TranscriptEvent.agent_id == me.id,
                                                                 TranscriptEvent.seq.in_(seqs))))
    fresh = {e.seq: e for e in body.events if e.seq not in have}
    for event in fresh.values():
        session.add(TranscriptEvent(agent_id=me.id, seq=event.seq, time=event.time, kind=event.type,
                                    data=event.model_extra or {}))
    try:
        session.commit()
    except IntegrityError:  # a concurrent duplicate: the other request stored it
        session.rollback()
    return TranscriptStored(stored=len(fresh), max_seq=transcript_max_seq(session, me.id))


def transcript_max_seq(session: Session, agent_id: int) -> int:
    return int(session.scalar(select(func.coalesce(func.max(TranscriptEvent.seq), 0))
                              .where(TranscriptEvent.agent_id == agent_id)) or 0)


@router.get("/campaigns/{campaign}/agents/{agent}/transcript")
def read_transcript(after: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                    me: Agent = Depends(ledger_agent), session: Session = Depends(db)) -> TranscriptPage:
    rows = session.scalars(select(TranscriptEvent).where(TranscriptEvent.agent_id == me.id,
                                                         TranscriptEvent.seq > after)
                           .order_by(TranscriptEvent.seq).limit(limit)).all()
    return TranscriptPage(events=[{"seq": r.seq, "time": r.time, "type": r.kind, **r.data} for r in rows],
                          max_seq=transcript_max_seq(session, me.id))
