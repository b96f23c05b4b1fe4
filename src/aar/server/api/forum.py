"""The shared findings forum: posts, threaded replies, one vote per agent per post, full-text search.

The author of every post and vote is the agent behind the bearer token; bodies carry no author field.
Vote counts are aggregated from the ``votes`` table (one row per agent per post, enforced by a unique
constraint), so they are exact by construction. Post ids commit in increasing order (SQLite has one
writer; on PostgreSQL inserts take a transaction-scoped advisory lock), so ``since=<last id>`` is a
gap-free cursor for incremental sync.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, cast

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import Field, field_validator
from sqlalchemy import CursorResult, Select, case, delete, func, literal, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aar.results.api import PostPage, PostView, SearchReply, Thread, VoteReply
from aar.results.findings import finding_fingerprint
from aar.server.api import Body
from aar.server.auth import current_agent, db
from aar.server.forum_guard import refusal
from aar.server.models import Agent, IntegrityFinding, Post, Submission, Vote

router = APIRouter()
TAG = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
POST_LOCK_KEY = 0x6161725F666F72  # "aar_for": serializes post inserts on PostgreSQL
Kind = Literal["hypothesis", "result", "insight", "error"]


CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _printable(value: str) -> str:
    """Text a reader's strict JSON parser and terminal take as is: no control characters but tab and newline."""
    if CONTROL.search(value):
        raise ValueError("control characters (other than tab and newline) are not allowed")
    return value


class PostIn(Body):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=20_000)

    @field_validator("title", "body")
    @classmethod
    def _no_controls(cls, value: str) -> str:
        return _printable(value)
    tags: list[str] = Field(default_factory=list, max_length=10)
    kind: Kind
    submission_id: int | None = None

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        bad = [t for t in tags if not TAG.match(t)]
        if bad:
            raise ValueError(f"tags must match {TAG.pattern}: {bad[:3]}")
        return sorted(set(tags))


class ReplyIn(Body):
    body: str = Field(min_length=1, max_length=20_000)

    @field_validator("body")
    @classmethod
    def _no_controls(cls, value: str) -> str:
        return _printable(value)


class VoteIn(Body):
    value: Literal[-1, 0, 1]


def vote_counts(session: Session, ids: list[int]) -> dict[int, tuple[int, int]]:
    """(up, down) votes per post id, for the posts that have any."""
    if not ids:
        return {}
    rows = session.execute(select(Vote.post_id, func.sum(case((Vote.value > 0, 1), else_=0)),
                                  func.sum(case((Vote.value < 0, 1), else_=0)))
                           .where(Vote.post_id.in_(ids)).group_by(Vote.post_id))
    return {pid: (int(up or 0), int(down or 0)) for pid, up, down in cast(list[tuple[int, int | None, int | None]],
                                                                          rows.all())}


def _views(session: Session, rows: list[tuple[Post, str]]) -> list[PostView]:
    counts = vote_counts(session, [p.id for p, _ in rows])
    roots = {p.root_id for p, _ in rows if p.root_id}
    titles = dict(session.execute(select(Post.id, Post.title).where(Post.id.in_(roots))).all()) if roots else {}
    out = []
    for post, author in rows:
        up, down = counts.get(post.id, (0, 0))
        # a reply reads with its thread's title ("Re: ..."), never an empty one
        title = post.title or (f"Re: {titles[post.root_id]}" if post.root_id in titles else "Re: (thread)")
        out.append(PostView(id=post.id, parent_id=post.parent_id, root_id=post.root_id or post.id, author=author,
                            kind=post.kind, title=title, body=post.body, tags=post.tags.split() if post.tags else [],
                            submission_id=post.submission_id, created_at=post.created_at.isoformat(), up=up,
                            down=down, score=up - down,
                            # carried over from an earlier campaign: where it was written, by whom, its votes there
                            inherited=post.origin or None))
    return out


def _with_authors() -> Select[Post, str]:
    return select(Post, Agent.name).join(Agent, Agent.id == Post.agent_id)


def lock_post_ids(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": POST_LOCK_KEY})


def _insert(session: Session, post: Post) -> PostView:
    lock_post_ids(session)
    session.add(post)
    session.commit()
    author = session.scalar(select(Agent.name).where(Agent.id == post.agent_id))
    return _views(session, [(post, author or "")])[0]


def _own_post(session: Session, me: Agent, post_id: int) -> Post:
    post = session.get(Post, post_id)
    if post is None or post.campaign_id != me.campaign_id:
        raise HTTPException(404, "no such post")
    return post


def _guard(session: Session, me: Agent, title: str, body: str) -> None:
    """Refuse a label payload or a post with unusable numbers (:mod:`aar.server.forum_guard`); a refused
    payload is recorded as an integrity finding against its author (one per agent and detector, counted)."""
    refused = refusal(title, body)
    if refused is None:
        return
    detector, reason = refused
    if detector == "forum_label_payload":
        key = finding_fingerprint(detector, me.name, None, None)  # the scan's key: both upsert on one row
        row = session.scalar(select(IntegrityFinding).where(IntegrityFinding.campaign_id == me.campaign_id,
                                                            IntegrityFinding.fingerprint == key))
        attempts = (row.evidence.get("attempts", 0) if row is not None else 0) + 1
        evidence = {"task": None, "reason": reason, "attempts": attempts, "title": title[:200],
                    "excerpt": body[:2000]}
        if row is None:
            session.add(IntegrityFinding(campaign_id=me.campaign_id, agent_id=me.id, detector=detector,
                                         severity="warning", fingerprint=key, evidence=evidence,
                                         summary=f"tried to post a label payload to the forum ({reason})"))
        else:
            row.evidence = evidence
        try:
            session.commit()
        except IntegrityError:  # a concurrent refusal recorded it first
            session.rollback()
    raise HTTPException(422, f"post refused: {reason}")


@router.post("/v1/forum/posts", status_code=201)
def create_post(body: PostIn, me: Agent = Depends(current_agent), session: Session = Depends(db)) -> PostView:
    _guard(session, me, body.title, body.body)
    if body.submission_id is not None:
        sub = session.get(Submission, body.submission_id)
        if sub is None or sub.campaign_id != me.campaign_id:
            raise HTTPException(422, f"no submission {body.submission_id} in this campaign")
    return _insert(session, Post(campaign_id=me.campaign_id, agent_id=me.id, kind=body.kind, title=body.title,
                                 body=body.body, tags=" ".join(body.tags), submission_id=body.submission_id))


@router.post("/v1/forum/posts/{post_id}/replies", status_code=201)
def reply(post_id: int, body: ReplyIn, me: Agent = Depends(current_agent),
          session: Session = Depends(db)) -> PostView:
    parent = _own_post(session, me, post_id)
    _guard(session, me, "", body.body)
    return _insert(session, Post(campaign_id=me.campaign_id, agent_id=me.id, parent_id=parent.id,
                                 root_id=parent.root_id or parent.id, kind="reply", title="", body=body.body,
                                 tags=""))


@router.get("/v1/forum/posts")
def list_posts(since: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=200)] = 50,
               kind: Annotated[str | None, Query(pattern=r"^[a-z]{1,16}$")] = None,
               tag: Annotated[str | None, Query(pattern=TAG.pattern)] = None,
               top_level: bool = False, me: Agent = Depends(current_agent),
               session: Session = Depends(db)) -> PostPage:
    """Oldest first after the ``since`` cursor; pass back ``next_since`` to get only what is new."""
    query = _with_authors().where(Post.campaign_id == me.campaign_id, Post.id > since)
    if kind:
        query = query.where(Post.kind == kind)
    if tag:
        query = query.where((literal(" ") + Post.tags + literal(" ")).contains(f" {tag} "))
    if top_level:
        query = query.where(Post.parent_id.is_(None))
    rows = session.execute(query.order_by(Post.id).limit(limit)).all()
    posts = _views(session, [(p, name) for p, name in rows])
    return PostPage(posts=posts, next_since=posts[-1].id if posts else since, more=len(posts) == limit)


@router.get("/v1/forum/posts/{post_id}")
def read_thread(post_id: int, me: Agent = Depends(current_agent), session: Session = Depends(db)) -> Thread:
    post = _own_post(session, me, post_id)
    root = post.root_id or post.id
    rows = session.execute(_with_authors().where((Post.id == root) | (Post.root_id == root)).order_by(Post.id)).all()
    views = _views(session, [(p, name) for p, name in rows])
    # asked for a reply: the whole thread it belongs to, and which post was asked for
    return Thread(requested_post_id=post_id, thread_root_id=root, post=views[0], replies=views[1:])


@router.put("/v1/forum/posts/{post_id}/vote")
def vote(post_id: int, body: VoteIn, me: Agent = Depends(current_agent), session: Session = Depends(db)) -> VoteReply:
    """Set this agent's vote (-1, +1, or 0 to withdraw). Voting again replaces the vote; never a second one."""
    post = _own_post(session, me, post_id)
    if post.agent_id == me.id:
        raise HTTPException(403, "agents cannot vote on their own posts")
    for _ in range(3):  # an insert racing another request of the same agent: retry as an update
        try:
            if body.value == 0:
                session.execute(delete(Vote).where(Vote.post_id == post_id, Vote.agent_id == me.id))
            elif cast(CursorResult, session.execute(update(Vote).where(Vote.post_id == post_id,
                                                                       Vote.agent_id == me.id)
                                                    .values(value=body.value))).rowcount == 0:
                session.add(Vote(post_id=post_id, agent_id=me.id, value=body.value))
            session.commit()
            break
        except IntegrityError:
            session.rollback()
    else:
        raise HTTPException(409, "vote conflicted with a concurrent vote; retry")
    up, down = vote_counts(session, [post_id]).get(post_id, (0, 0))
    return VoteReply(post_id=post_id, your_vote=body.value, up=up, down=down, score=up - down)


def _fts_query(q: str) -> str:
    words = re.findall(r"\w+", q)[:12]
    if not words:
        raise HTTPException(422, "search query needs at least one word")
    return " ".join(f'"{w}"' for w in words)  # quoted terms: user text is never FTS5 syntax


@router.get("/v1/forum/search")
def search(q: Annotated[str, Query(min_length=1, max_length=200)], limit: Annotated[int, Query(ge=1, le=100)] = 20,
           offset: Annotated[int, Query(ge=0, le=10_000)] = 0, me: Agent = Depends(current_agent),
           session: Session = Depends(db)) -> SearchReply:
    if session.get_bind().dialect.name == "sqlite":
        ids = session.scalars(text(
            "SELECT p.id FROM posts_fts JOIN posts p ON p.id = posts_fts.rowid WHERE posts_fts MATCH :q "
            "AND p.campaign_id = :c ORDER BY bm25(posts_fts), p.id LIMIT :l OFFSET :o"),
            {"q": _fts_query(q), "c": me.campaign_id, "l": limit, "o": offset}).all()
    else:
        ids = session.scalars(text(
            "SELECT id FROM posts WHERE campaign_id = :c AND search @@ websearch_to_tsquery('english', :q) "
            "ORDER BY ts_rank(search, websearch_to_tsquery('english', :q)) DESC, id LIMIT :l OFFSET :o"),
            {"q": q, "c": me.campaign_id, "l": limit, "o": offset}).all()
    rows = {p.id: (p, name) for p, name in session.execute(_with_authors().where(Post.id.in_(ids)))} if ids else {}
    return SearchReply(query=q, posts=_views(session, [rows[i] for i in ids if i in rows]), offset=offset)
