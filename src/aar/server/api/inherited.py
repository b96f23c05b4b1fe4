"""``GET /v1/inherited``: an earlier campaign's methods this campaign started from (aar.server.heritage), with
their code, so a researcher can run them (``inherited:<id>`` as an experiment's method), read them and compose
them with its own. Their verified numbers here are on the leaderboard like any submission's (re-verified on this
campaign's hidden seeds): they are the bar to beat."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from sqlalchemy import select
from sqlalchemy.orm import Session

from aar.errors import AarError
from aar.results.api import InheritedList, InheritedMethodView
from aar.server.auth import current_agent, db
from aar.server.models import Agent, Campaign, Snapshot, Submission
from aar.server.views import public_view
from aar.snapshots import members

router = APIRouter()
PREFIX = "inherited:"


def inherited_submission(session: Session, campaign_id: int, entry: str) -> Submission:
    """The inherited method an experiment's ``inherited:<id>`` names, in the agent's own campaign (422 if none)."""
    number = entry.removeprefix(PREFIX)
    sub = session.get(Submission, int(number)) if number.isdigit() else None
    if sub is None or sub.campaign_id != campaign_id or sub.origin is None:
        raise HTTPException(422, f"no inherited method {entry!r} in this campaign (GET /v1/inherited lists them)")
    return sub


def _files(data: bytes) -> dict[str, str]:
    try:
        return {name: body.decode("utf-8", "replace") for name, body in sorted(members(data).items())}
    except AarError:
        return {}


@router.get("/v1/inherited")
def inherited(me: Agent = Depends(current_agent), session: Session = Depends(db)) -> InheritedList:
    campaign = session.get(Campaign, me.campaign_id)
    assert campaign is not None
    rows = session.execute(select(Submission, Agent.name).join(Agent, Agent.id == Submission.agent_id)
                           .where(Submission.campaign_id == campaign.id, Submission.origin.is_not(None))
                           .order_by(Submission.task, Submission.id)).all()
    methods = []
    for sub, name in rows:
        snapshot = session.get(Snapshot, sub.snapshot_sha256)
        methods.append(InheritedMethodView(**dict(public_view(sub, name, campaign.round_digits, owner=False)),
                                           run_as=f"{PREFIX}{sub.id}",
                                           files=_files(bytes(snapshot.data)) if snapshot else {}))
    return InheritedList(campaign=campaign.name, methods=methods)
