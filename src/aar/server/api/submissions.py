"""Verified submissions and the leaderboard.

``POST /v1/submissions`` stores a method's code snapshot (content-addressed, validated before anything is
written) and queues it; a worker process verifies it (see :mod:`aar.server.worker`). The leaderboard is
built from server-verified rows only: there is no endpoint through which an agent can report a number.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, cast

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import Field
from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aar.methods.registry import available
from aar.results.api import Leaderboard, SubmissionList, SubmissionView
from aar.results.submission import SubmissionStatus as Status
from aar.server.api import Body, Params, decode_archive, store_snapshot
from aar.server.auth import TASK, current_agent, db
from aar.server.models import Agent, Campaign, Submission
from aar.server.verify import campaign_seeds
from aar.server.views import leaderboard_rows, public_view
from aar.snapshots import MAX_ARCHIVE_BYTES, pack_files
from aar.tasks.registry import known_tasks

router = APIRouter()


class SubmissionIn(Body):
    task: str = Field(pattern=TASK)
    entry: str = Field(max_length=200, description="path/in/snapshot.py:ClassName, or a built-in method's name "
                                                   "(then no archive: the server packs it)")
    params: Params = Field(default_factory=dict, max_length=50)
    archive: str | None = Field(default=None, max_length=(MAX_ARCHIVE_BYTES * 4) // 3 + 8,
                                description="base64 of a tar.gz")


def builtin_snapshot(name: str) -> tuple[bytes, str]:
    """A built-in method (or the recipe composition, with its parameters) as a snapshot of one file that names
    it, and that file's entry: submitted, verified and attributed like any code, with no wrapper written by
    hand."""
    source = (f'"""The built-in method {name!r}, submitted by name."""\n\nfrom aar.methods.registry import '
              f'get_method\n\nBuiltin = get_method({name!r})\n')
    file = f"builtin_{name}.py"
    return pack_files({file: source.encode()}), f"{file}:Builtin"


def _snapshot(body: SubmissionIn) -> tuple[bytes, str]:
    if body.archive is not None:
        return decode_archive(body.archive, body.entry), body.entry
    if body.entry in available():
        return builtin_snapshot(body.entry)
    raise HTTPException(422, f"entry {body.entry!r} is not a built-in method ({', '.join(available())}); send "
                             "the code as `archive` with entry path/in/archive.py:ClassName")


@router.post("/v1/submissions", status_code=202)
def submit(body: SubmissionIn, response: Response, me: Agent = Depends(current_agent),
           session: Session = Depends(db)) -> SubmissionView:
    if body.task not in known_tasks():
        raise HTTPException(422, f"unknown task {body.task!r}")
    data, entry = _snapshot(body)
    sha = hashlib.sha256(data).hexdigest()
    campaign = session.get(Campaign, me.campaign_id)
    assert campaign is not None
    key = dedupe_key(me.id, sha, entry, body.task, body.params)
    same = session.scalar(select(Submission).where(Submission.dedupe_key == key))
    if same is not None:  # idempotent retry: no second budget charge
        response.status_code = 200
        return public_view(same, me.name, campaign.round_digits, owner=True)
    store_snapshot(session, data)
    spent = cast(CursorResult, session.execute(
        update(Agent).where(Agent.id == me.id, Agent.submissions_used < campaign.submit_budget)
        .values(submissions_used=Agent.submissions_used + 1)))
    if spent.rowcount != 1:
        session.rollback()
        raise HTTPException(429, f"submission budget of {campaign.submit_budget} is used up")
    seeds = campaign_seeds(campaign.id, list(campaign.verify_seeds))  # never shown to agents or methods
    sub = Submission(campaign_id=campaign.id, agent_id=me.id, task=body.task, entry=entry,
                     params=body.params, snapshot_sha256=sha, seeds=seeds,
                     status=Status.QUEUED, attempts=0, dedupe_key=key)
    session.add(sub)
    try:  # the budget unit and the row commit together, or neither does
        session.commit()
    except IntegrityError:  # an identical submission committed in between: that one is the answer
        session.rollback()
        same = session.scalar(select(Submission).where(Submission.dedupe_key == key))
        if same is None:
            raise HTTPException(409, "an identical submission was stored at the same moment and has "
                                     "failed since; submit again") from None
        response.status_code = 200
        return public_view(same, me.name, campaign.round_digits, owner=True)
    return public_view(sub, me.name, campaign.round_digits, owner=True)


def dedupe_key(agent_id: int, sha: str, entry: str, task: str, params: dict) -> str:
    """What makes two submissions of one agent the same (params in canonical JSON)."""
    canonical = json.dumps([agent_id, sha, entry, task, params], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@router.get("/v1/submissions")
def my_submissions(me: Agent = Depends(current_agent), session: Session = Depends(db)) -> SubmissionList:
    campaign = session.get(Campaign, me.campaign_id)
    assert campaign is not None
    rows = session.scalars(select(Submission).where(Submission.agent_id == me.id).order_by(Submission.id)).all()
    return SubmissionList(submissions=[public_view(s, me.name, campaign.round_digits, owner=True) for s in rows])


@router.get("/v1/submissions/{submission_id}")
def get_submission(submission_id: int, me: Agent = Depends(current_agent),
                   session: Session = Depends(db)) -> SubmissionView:
    row = session.execute(select(Submission, Agent.name).join(Agent, Agent.id == Submission.agent_id)
                          .where(Submission.id == submission_id, Submission.campaign_id == me.campaign_id)).first()
    if row is None:  # another campaign's submission is indistinguishable from a missing one
        raise HTTPException(404, "no such submission")
    campaign = session.get(Campaign, me.campaign_id)
    assert campaign is not None
    return public_view(row[0], row[1], campaign.round_digits, owner=row[0].agent_id == me.id)


@router.get("/v1/leaderboard")
def leaderboard(task: Annotated[str | None, Query(pattern=TASK)] = None, me: Agent = Depends(current_agent),
                session: Session = Depends(db)) -> Leaderboard:
    campaign = session.get(Campaign, me.campaign_id)
    assert campaign is not None
    return Leaderboard(campaign=campaign.name, task=task, entries=leaderboard_rows(session, campaign, task))
