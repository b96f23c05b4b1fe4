"""What the dashboard pages show, read from the database. Each live query takes a cursor and returns only
rows past it (ids are committed in order within a campaign: evaluations take the campaign row lock, forum
posts an advisory lock, transcript lines come from one writer per agent)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aar.results.submission import OPEN
from aar.results.submission import SubmissionStatus as Status
from aar.server.models import (
    Agent,
    Campaign,
    Evaluation,
    IntegrityFinding,
    Post,
    Submission,
    TranscriptEvent,
    Vote,
)
from aar.server.views import agent_views, campaign_totals, leaderboard_rows

PAGE = 100  # rows per first render and per poll; older rows come with "older" links


@dataclass
class Rows:
    rows: list[dict]
    cursor: int


def campaigns(session: Session) -> list[dict]:
    out = []
    for c in session.scalars(select(Campaign).order_by(Campaign.id.desc())):
        counts = {"agents": session.scalar(select(func.count()).where(Agent.campaign_id == c.id)) or 0,
                  "evaluations": session.scalar(select(func.count()).where(Evaluation.campaign_id == c.id)) or 0,
                  "submissions": session.scalar(select(func.count()).where(Submission.campaign_id == c.id)) or 0,
                  "posts": session.scalar(select(func.count()).where(Post.campaign_id == c.id)) or 0}
        out.append({"name": c.name, "created_at": c.created_at, **counts, **campaign_totals(session, c).model_dump()})
    return out


def agents(session: Session, campaign: Campaign) -> list[dict]:
    return [a.model_dump(mode="json") for a in agent_views(session, campaign)]


def best_by_task(session: Session, campaign: Campaign) -> dict[str, dict]:
    """The top verified (not quarantined) weak-to-strong submission per task (class ``w2s``, or verified before
    attribution existed), with its test PGR interval; a task with only zero-shot results shows its best one,
    labelled by its class."""
    best: dict[str, dict] = {}
    for row in leaderboard(session, campaign):
        kind = (row.get("attribution") or {}).get("class", "w2s")
        if row["status"] != Status.VERIFIED:
            continue
        current = best.get(row["task"])
        if current is None or (kind == "w2s" and (current.get("attribution") or {}).get("class", "w2s") != "w2s"):
            best[row["task"]] = row
    return dict(sorted(best.items()))


def transcript(session: Session, agent: Agent, after: int, limit: int = PAGE) -> Rows:
    rows = session.scalars(select(TranscriptEvent).where(TranscriptEvent.agent_id == agent.id,
                                                         TranscriptEvent.seq > after)
                           .order_by(TranscriptEvent.seq).limit(limit)).all()
    events = [{"seq": r.seq, "time": r.time, "type": r.kind, **r.data} for r in rows]
    return Rows(events, events[-1]["seq"] if events else after)


def evaluations(session: Session, campaign: Campaign, after: int, limit: int = PAGE) -> Rows:
    """Newest first on the page; a poll returns rows past the cursor (oldest of them first, to prepend)."""
    query = (select(Evaluation.id, Evaluation.created_at, Agent.name, Evaluation.task, Evaluation.split,
                    Evaluation.accuracy, Evaluation.pgr, Evaluation.predictions_sha256)
             .join(Agent, Agent.id == Evaluation.agent_id).where(Evaluation.campaign_id == campaign.id))
    if after:
        found = session.execute(query.where(Evaluation.id > after).order_by(Evaluation.id).limit(limit)).all()
    else:
        found = list(reversed(session.execute(query.order_by(Evaluation.id.desc()).limit(limit)).all()))
    rows = [dict(r._mapping) for r in found]
    return Rows(rows, rows[-1]["id"] if rows else after)


def posts(session: Session, campaign: Campaign, after: int, limit: int = PAGE) -> Rows:
    up = func.coalesce(func.sum(Vote.value), 0).label("score")
    query = (select(Post, Agent.name, up).join(Agent, Agent.id == Post.agent_id)
             .outerjoin(Vote, Vote.post_id == Post.id).where(Post.campaign_id == campaign.id)
             .group_by(Post.id, Agent.name))
    if after:
        found = session.execute(query.where(Post.id > after).order_by(Post.id).limit(limit)).all()
    else:
        found = list(reversed(session.execute(query.order_by(Post.id.desc()).limit(limit)).all()))
    rows = [{"id": p.id, "parent_id": p.parent_id, "root_id": p.root_id or p.id, "author": author, "kind": p.kind,
             "title": p.title, "body": p.body, "tags": p.tags.split(), "created_at": p.created_at,
             "score": int(score), "submission_id": p.submission_id} for p, author, score in found]
    return Rows(rows, found[-1][0].id if found else after)


def thread(session: Session, campaign: Campaign, post_id: int) -> list[dict]:
    root = session.get(Post, post_id)
    if root is None or root.campaign_id != campaign.id:
        return []
    root_id = root.root_id or root.id
    score = func.coalesce(func.sum(Vote.value), 0)
    found = session.execute(select(Post, Agent.name, score).join(Agent, Agent.id == Post.agent_id)
                            .outerjoin(Vote, Vote.post_id == Post.id)
                            .where((Post.id == root_id) | (Post.root_id == root_id))
                            .group_by(Post.id, Agent.name).order_by(Post.id)).all()
    return [{"id": p.id, "parent_id": p.parent_id, "author": a, "kind": p.kind, "title": p.title, "body": p.body,
             "tags": p.tags.split(), "created_at": p.created_at, "score": int(s)} for p, a, s in found]


OPEN_STATUSES = OPEN


def submissions(session: Session, campaign: Campaign, after: int, open_ids: list[int],
                limit: int = PAGE) -> Rows:
    """New submissions past the cursor, plus the still-open ones the page shows (their status moves)."""
    query = (select(Submission, Agent.name).join(Agent, Agent.id == Submission.agent_id)
             .where(Submission.campaign_id == campaign.id))
    if after:
        fresh = session.execute(query.where(Submission.id > after).order_by(Submission.id).limit(limit)).all()
    else:
        fresh = list(reversed(session.execute(query.order_by(Submission.id.desc()).limit(limit)).all()))
    moved = session.execute(query.where(Submission.id.in_(open_ids[:PAGE]), Submission.id <= after)).all() \
        if open_ids and after else []
    rows = [_submission_row(s, a) for s, a in [*moved, *fresh]]
    cursor = max([after, *(r["id"] for r in rows)])
    return Rows(rows, cursor)


def _submission_row(sub: Submission, agent: str) -> dict:
    result = sub.verification
    return {"id": sub.id, "agent": agent, "task": sub.task, "entry": sub.entry, "status": sub.status,
            "attempts": sub.attempts, "created_at": sub.created_at, "finished_at": sub.finished_at,
            "error": sub.error, "pgr": result.pgr.model_dump() if result else None,
            "dev_pgr": result.dev_pgr.model_dump() if result else None,
            "p": result.p_vs_vanilla if result else None, "quarantine_reason": sub.quarantine_reason,
            "open": sub.status in OPEN_STATUSES}


def leaderboard(session: Session, campaign: Campaign) -> list[dict]:
    return [row.model_dump(mode="json", by_alias=True) for row in leaderboard_rows(session, campaign, None)]


def findings(session: Session, campaign: Campaign) -> list[dict]:
    """Integrity findings (``aar integrity scan``), most serious first; a short list, rendered whole."""
    order = {"critical": 0, "warning": 1, "notice": 2}
    rows = session.execute(select(IntegrityFinding, Agent.name).join(Agent, Agent.id == IntegrityFinding.agent_id)
                           .where(IntegrityFinding.campaign_id == campaign.id)).all()
    out = [{"id": f.id, "severity": f.severity, "detector": f.detector, "agent": name, "submission": f.submission_id,
            "summary": f.summary, "review": f.review or "open", "evidence": f.evidence} for f, name in rows]
    return sorted(out, key=lambda f: (order.get(f["severity"], 3), f["id"]))
