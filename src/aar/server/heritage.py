"""Campaigns that build on earlier ones (`aar run --continue-from`, `aar campaign create --continue-from`).

An earlier campaign's best verified methods and its forum are exported as one JSON document and imported into
a new campaign:

- each method (at most :data:`METHODS_PER_TASK` per task: verified, not quarantined, allowed by the attribution
  policy, best server-verified PGR first) becomes a submission of the new campaign, queued and **re-verified on
  the new campaign's own hidden seeds**, so it is paired with the new campaign's results and is the bar they
  must beat, never a number carried over;
- each forum post keeps its thread, kind, title, body and tags, and is marked ``inherited`` with the campaign,
  post id, author and votes it had there;
- authors become agents named ``<earlier campaign>~<agent>`` in the state ``inherited``: they hold no token
  anybody was given and never act; provenance (campaign, agent, submission) is kept in ``origin``, the
  earliest one when a method was itself inherited.

Importing is idempotent per item (a resumed `aar run` imports again and adds only what is missing), so a
client sends a large heritage in parts under the server's body limit.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from aar.results.lifecycle import AgentState
from aar.results.submission import SubmissionStatus as Status
from aar.results.verification import VerificationResult
from aar.server.api import Params, decode_archive, store_snapshot
from aar.server.api.forum import lock_post_ids, vote_counts
from aar.server.models import Agent, Campaign, Post, Snapshot, Submission
from aar.server.verify import campaign_seeds
from aar.snapshots import MAX_ARCHIVE_BYTES
from aar.tasks.registry import known_tasks

METHODS_PER_TASK = 3
MAX_POSTS = 2000
INHERITED = AgentState.INHERITED  # the state of an agent that stands for an earlier campaign's author


class InheritedMethod(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int  # the submission's id in the campaign it is exported from
    task: str = Field(max_length=40)
    entry: str = Field(max_length=200)
    params: Params = Field(default_factory=dict, max_length=50)
    archive: str = Field(max_length=(MAX_ARCHIVE_BYTES * 4) // 3 + 8)  # base64 tar.gz, checked like a submission
    origin: dict[str, str | int | float | None]


class InheritedPost(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int
    parent_id: int | None = None
    author: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    title: str = Field(max_length=200)
    body: str = Field(max_length=20_000)
    tags: list[str] = Field(default_factory=list, max_length=20)
    origin: dict[str, str | int | float | None]


class Heritage(BaseModel):
    """What one campaign hands on: the wire format of ``GET``/``POST /v1/admin/campaigns/{name}/heritage``."""

    model_config = ConfigDict(extra="forbid")
    source: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    methods: Annotated[list[InheritedMethod], Field(max_length=60)] = []
    posts: Annotated[list[InheritedPost], Field(max_length=MAX_POSTS)] = []


def export_heritage(session: Session, campaign: Campaign) -> Heritage:
    """The campaign's best allowed verified methods per task and its whole forum (oldest first)."""
    rows = session.execute(select(Submission, Agent.name).join(Agent, Agent.id == Submission.agent_id)
                           .where(Submission.campaign_id == campaign.id,
                                  Submission.status == Status.VERIFIED)).all()
    per_task: dict[str, list[tuple[float, Submission, str, VerificationResult]]] = {}
    for sub, author in rows:
        result = sub.verification
        if result is None or result.pgr.mean is None:
            continue
        if result.attribution is not None and not result.attribution.allowed:
            continue
        per_task.setdefault(sub.task, []).append((result.pgr.mean, sub, author, result))
    methods = []
    for task in sorted(per_task):
        for pgr, sub, author, result in sorted(per_task[task], key=lambda r: (-r[0], r[1].id))[:METHODS_PER_TASK]:
            snapshot = session.get(Snapshot, sub.snapshot_sha256)
            assert snapshot is not None
            origin = ({k: v for k, v in sub.origin.items() if k != "key"} if sub.origin else {  # the earliest
                "campaign": campaign.name, "agent": author, "submission": sub.id, "pgr": round(pgr, 4),
                "pgr_lo": result.pgr.lo, "pgr_hi": result.pgr.hi,
                "class": str(result.attribution.kind) if result.attribution is not None else "unattributed"})
            methods.append(InheritedMethod(id=sub.id, task=task, entry=sub.entry, params=sub.params,
                                           archive=base64.b64encode(bytes(snapshot.data)).decode(), origin=origin))
    forum = session.execute(select(Post, Agent.name).join(Agent, Agent.id == Post.agent_id)
                            .where(Post.campaign_id == campaign.id).order_by(Post.id).limit(MAX_POSTS)).all()
    votes = vote_counts(session, [post.id for post, _ in forum])
    posts = []
    for post, author in forum:
        up, down = votes.get(post.id, (0, 0))
        origin = ({k: v for k, v in post.origin.items() if k != "key"} if post.origin else
                  {"campaign": campaign.name, "post": post.id, "author": author, "up": up, "down": down})
        posts.append(InheritedPost(id=post.id, parent_id=post.parent_id, author=author, kind=post.kind,
                                   title=post.title, body=post.body, tags=post.tags.split() if post.tags else [],
                                   origin=origin))
    return Heritage(source=campaign.name, methods=methods, posts=posts)


def _stand_in(session: Session, campaign: Campaign, source: str, author: str,
              cache: dict[str, Agent]) -> Agent:
    """The agent that stands for ``author`` of ``source`` in ``campaign``: made once, never given a token."""
    name = f"{source}~{author}"[:64]
    if name not in cache:
        agent = session.scalar(select(Agent).where(Agent.campaign_id == campaign.id, Agent.name == name))
        if agent is None:
            unusable = hashlib.sha256(secrets.token_bytes(32)).hexdigest()  # the hash of a token nobody holds
            agent = Agent(campaign_id=campaign.id, name=name, token_sha256=unusable, state=INHERITED,
                          stop_reason=f"carried over from campaign {source}")
            session.add(agent)
            session.flush()
        cache[name] = agent
    return cache[name]


def import_heritage(session: Session, campaign: Campaign, heritage: Heritage) -> dict[str, int]:
    """Queue the methods for re-verification under this campaign's seeds and copy the posts. Each item is
    imported once (keyed by its source campaign and id there), so a client may send a heritage in parts, in
    thread order, and a resumed import adds only what is missing. Returns counts of what this call added."""
    if heritage.source == campaign.name:
        raise ValueError("a campaign cannot continue from itself")
    inherited_subs = {(s.origin or {}).get("key") for s in session.scalars(select(Submission).where(
        Submission.campaign_id == campaign.id, Submission.origin.is_not(None)))}
    inherited_posts = {(p.origin or {}).get("key"): p for p in session.scalars(select(Post).where(
        Post.campaign_id == campaign.id, Post.origin.is_not(None)))}
    stand_ins: dict[str, Agent] = {}
    seeds = campaign_seeds(campaign.id, list(campaign.verify_seeds))
    tasks = set(known_tasks())
    added = {"methods": 0, "posts": 0, "methods_left_out": 0}
    for method in heritage.methods:
        key = f"{heritage.source}:{method.id}"
        if key in inherited_subs:
            continue
        if method.task not in tasks:  # a task this server does not know
            added["methods_left_out"] += 1
            continue
        data = decode_archive(method.archive, method.entry)
        sha = store_snapshot(session, data)
        # the campaign and agent that wrote it (the earliest, for a method inherited more than once)
        author = _stand_in(session, campaign, str(method.origin.get("campaign") or heritage.source),
                           str(method.origin.get("agent") or "unknown"), stand_ins)
        session.add(Submission(campaign_id=campaign.id, agent_id=author.id, task=method.task, entry=method.entry,
                               params=method.params, snapshot_sha256=sha, seeds=seeds, status=Status.QUEUED,
                               attempts=0, origin={**method.origin, "key": key}))
        added["methods"] += 1
    lock_post_ids(session)
    for post in heritage.posts:
        key = f"{heritage.source}:{post.id}"
        if key in inherited_posts:
            continue
        author = _stand_in(session, campaign, str(post.origin.get("campaign") or heritage.source),
                           str(post.origin.get("author") or post.author), stand_ins)
        parent = inherited_posts.get(f"{heritage.source}:{post.parent_id}") if post.parent_id is not None else None
        row = Post(campaign_id=campaign.id, agent_id=author.id, parent_id=parent.id if parent else None,
                   root_id=(parent.root_id or parent.id) if parent else None, kind=post.kind, title=post.title,
                   body=post.body, tags=" ".join(post.tags), origin={**post.origin, "key": key})
        session.add(row)
        session.flush()
        inherited_posts[key] = row
        added["posts"] += 1
    session.commit()
    return added
