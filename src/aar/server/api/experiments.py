"""``POST /v1/experiments`` and ``GET /v1/experiments/{id}``: an agent's experiment, run where the labels are.

The agent sends a method (a built-in name, or its code as a snapshot and ``file.py:Class``), parameters and
its own experiment seeds; a server worker runs it in the sandbox on a label-free bundle
(:mod:`aar.server.experiment_jobs`) and keeps the dev predictions, the timings, the method's bounded output
and its progress. The agent polls. Nothing it sends names a path on the server: the task is a validated
name, the seeds are integers, the code is bytes. Compute is charged to the agent by the worker; a new
experiment is refused once the agent's compute budget is spent or while it has ``MAX_ACTIVE`` running.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aar.methods.registry import available
from aar.results.api import ExperimentList, ExperimentResult, ExperimentSummary, ExperimentView
from aar.seeds import EXPERIMENT_SEED_LIMIT
from aar.server.api import Body, Params, decode_archive, store_snapshot
from aar.server.api.inherited import PREFIX, inherited_submission
from aar.server.auth import TASK, current_agent, db
from aar.server.experiment_jobs import ACTIVE, DONE, FAILED, MAX_ACTIVE, QUEUED
from aar.server.models import Agent, Campaign, Experiment
from aar.server.views import agent_spend, iso
from aar.snapshots import MAX_ARCHIVE_BYTES
from aar.tasks.registry import known_tasks

router = APIRouter()
MAX_SEEDS = 5


class ExperimentIn(Body):
    task: str = Field(pattern=TASK)
    entry: str = Field(max_length=200, description="a built-in method, path/in/snapshot.py:ClassName, or "
                                                   "inherited:<id> (GET /v1/inherited)")
    params: Params = Field(default_factory=dict, max_length=50)
    seeds: list[Annotated[int, Field(ge=0, lt=EXPERIMENT_SEED_LIMIT)]] = Field(min_length=1, max_length=MAX_SEEDS)
    archive: str | None = Field(default=None, max_length=(MAX_ARCHIVE_BYTES * 4) // 3 + 8,
                                description="base64 of a tar.gz holding the entry's file")

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("seeds must be distinct")
        return sorted(value)


def _summary_fields(exp: Experiment) -> dict:
    return dict(id=exp.number, task=exp.task, entry=exp.entry, params=exp.params, seeds=exp.seeds,
                status=exp.status, progress=exp.progress, compute_s=exp.compute_s)


def summary(exp: Experiment) -> ExperimentSummary:
    """An experiment in the owner's list: what ran and where it stands, without output or predictions."""
    return ExperimentSummary(**_summary_fields(exp))


def view(exp: Experiment, queued_ahead: int | None = None, reused: bool = False) -> ExperimentView:
    """What the owner sees of one: the summary, timings, output; the dev predictions once done."""
    return ExperimentView(**_summary_fields(exp), attempts=exp.attempts, created_at=iso(exp.created_at),
                          started_at=iso(exp.started_at), finished_at=iso(exp.finished_at),
                          output=exp.output or "", error=exp.error, queued_ahead=queued_ahead, reused=reused,
                          result=ExperimentResult.model_validate(exp.result)
                          if exp.status == DONE and exp.result else None)


@router.post("/v1/experiments", status_code=202)
def start(body: ExperimentIn, response: Response, me: Agent = Depends(current_agent),
          session: Session = Depends(db)) -> ExperimentView:
    if body.task not in known_tasks():
        raise HTTPException(422, f"unknown task {body.task!r}")
    if body.entry.startswith(PREFIX):  # an earlier campaign's method, its code and parameters as stored
        if body.archive is not None:
            raise HTTPException(422, "an inherited method takes no archive")
        origin = inherited_submission(session, me.campaign_id, body.entry)
        body = body.model_copy(update={"entry": origin.entry, "params": {**origin.params, **body.params}})
        sha: str | None = origin.snapshot_sha256
    elif ":" in body.entry:
        if body.archive is None:
            raise HTTPException(422, f"entry {body.entry!r} names a file: send the code as `archive`")
        sha = store_snapshot(session, decode_archive(body.archive, body.entry))
    elif body.entry in available():
        if body.archive is not None:
            raise HTTPException(422, "a built-in method takes no archive")
        sha = None
    else:
        raise HTTPException(422, f"unknown method {body.entry!r}: a built-in ({', '.join(available())}) or "
                                 f"path/in/archive.py:ClassName")
    for earlier in session.scalars(select(Experiment).where(
            Experiment.agent_id == me.id, Experiment.task == body.task, Experiment.entry == body.entry,
            (Experiment.snapshot_sha256 == sha) if sha else Experiment.snapshot_sha256.is_(None),
            Experiment.status != FAILED).order_by(Experiment.id.desc()).limit(50)):
        if earlier.params == body.params and earlier.seeds == body.seeds:
            # the same code, method, params and seeds: a retry (a restarted researcher re-issues its call) or a
            # re-run of a deterministic experiment; the agent gets that one, nothing is run or charged twice
            response.status_code = 200
            return view(earlier, _queued_ahead(session, earlier) if earlier.status == QUEUED else None, reused=True)
    campaign = session.get(Campaign, me.campaign_id)
    assert campaign is not None
    used, budget = agent_spend(me, campaign)["compute_s"]
    if used >= budget:
        raise HTTPException(429, f"experiment compute budget of {budget:g} s is used up")
    active = session.scalar(select(func.count()).select_from(Experiment).where(
        Experiment.agent_id == me.id, Experiment.status.in_(ACTIVE))) or 0
    if active >= MAX_ACTIVE:
        raise HTTPException(429, f"{active} of your experiments are queued or running (at most {MAX_ACTIVE}); "
                                 f"wait for one to finish")
    for _ in range(5):  # two concurrent starts by one agent may draw the same number: the loser draws again
        number = (session.scalar(select(func.max(Experiment.number)).where(Experiment.agent_id == me.id)) or 0) + 1
        exp = Experiment(campaign_id=campaign.id, agent_id=me.id, number=number, task=body.task, entry=body.entry,
                         params=body.params, seeds=body.seeds, snapshot_sha256=sha, status=QUEUED, attempts=0,
                         compute_s=0.0, progress="queued")
        session.add(exp)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            continue
        return view(exp, _queued_ahead(session, exp))
    raise HTTPException(409, "could not number the experiment (too many concurrent starts); try again")


@router.get("/v1/experiments")
def mine(me: Agent = Depends(current_agent), session: Session = Depends(db)) -> ExperimentList:
    """The agent's 20 latest experiments, newest first, without their predictions: what is queued, running,
    done or failed (an agent whose context was reset finds its experiments again)."""
    rows = session.scalars(select(Experiment).where(Experiment.agent_id == me.id)
                           .order_by(Experiment.id.desc()).limit(20))
    return ExperimentList(experiments=[summary(e) for e in rows])


def own(session: Session, agent_id: int, number: int) -> Experiment:
    """The agent's experiment by its own number; another agent's experiments do not exist for this one."""
    exp = session.scalar(select(Experiment).where(Experiment.agent_id == agent_id, Experiment.number == number))
    if exp is None:
        raise HTTPException(404, f"no experiment {number} of yours (your experiments are numbered 1, 2, 3 ...; "
                                 f"GET /v1/experiments lists them)")
    return exp


@router.get("/v1/experiments/{exp_id}")
def get(exp_id: int, me: Agent = Depends(current_agent), session: Session = Depends(db)) -> ExperimentView:
    """One of the agent's experiments by the number it was given (``id`` in every reply: the agent's own count)."""
    exp = own(session, me.id, exp_id)
    return view(exp, _queued_ahead(session, exp) if exp.status == QUEUED else None)


def _queued_ahead(session: Session, exp: Experiment) -> int:
    """How many experiments (of any agent) a worker takes before this one: a count, nothing about them."""
    return session.scalar(select(func.count()).select_from(Experiment).where(
        Experiment.status == QUEUED, Experiment.id < exp.id)) or 0
