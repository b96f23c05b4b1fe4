"""Request dependencies: database sessions, the admin token and agent bearer tokens.

Agent tokens are 256-bit random and stored as SHA-256 digests; a token resolves to exactly one agent of
one campaign, and every agent endpoint derives the campaign and the author from it (never from the body).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from datetime import UTC
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from aar.results.lifecycle import AgentState
from aar.server.models import Agent, Campaign, utcnow

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
TASK = r"^[a-z][a-z0-9_-]{0,39}$"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def db(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


def _bearer(authorization: str | None) -> str:
    if not authorization or not authorization.startswith("Bearer ") or len(authorization) > 200:
        raise HTTPException(401, "missing or malformed bearer token", {"WWW-Authenticate": "Bearer"})
    return authorization.removeprefix("Bearer ").strip()


def require_admin(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    if not hmac.compare_digest(token_digest(_bearer(authorization)), request.app.state.admin_digest):
        raise HTTPException(403, "admin token required")


def agent_by_digest(session: Session, digest: str) -> Agent | None:
    return session.scalar(select(Agent).where(Agent.token_sha256 == digest))


SEEN_EVERY_S = 30.0  # how stale ``last_seen`` may get before an agent's request refreshes it


def current_agent(authorization: Annotated[str | None, Header()] = None, session: Session = Depends(db)) -> Agent:
    """The agent behind the token. Its activity is the state: an agent nobody runs for us (an MCP client such
    as Claude Code, which reports no state of its own) moves from ``created`` to ``active`` at its first
    request, and ``last_seen`` follows its requests (refreshed at most every 30 s)."""
    found = agent_by_digest(session, token_digest(_bearer(authorization)))
    if found is None:
        raise HTTPException(401, "unknown token", {"WWW-Authenticate": "Bearer"})
    now = utcnow()
    seen = found.last_seen.replace(tzinfo=UTC) if found.last_seen and not found.last_seen.tzinfo else found.last_seen
    if found.state == AgentState.CREATED or seen is None or (now - seen).total_seconds() > SEEN_EVERY_S:
        values: dict = {"last_seen": now,
                        **({"state": AgentState.ACTIVE} if found.state == AgentState.CREATED else {})}
        session.execute(update(Agent).where(Agent.id == found.id).values(**values))
        session.commit()
        session.refresh(found)
    return found


async def agent_identity(request: Request, authorization: str | None) -> tuple[int, int]:
    """(agent id, campaign id) of a bearer token, for async handlers. A token belongs to one agent for good
    (agents are never deleted and tokens never reassigned), so a hit is cached for the process's life; a
    miss is looked up off the event loop and never cached (an agent created a moment later is found)."""
    digest = token_digest(_bearer(authorization))
    cache: dict[str, tuple[int, int]] = request.app.state.token_cache
    found = cache.get(digest)
    if found is None:
        def lookup() -> tuple[int, int] | None:
            with request.app.state.sessions() as session:
                agent = agent_by_digest(session, digest)
                return None if agent is None else (agent.id, agent.campaign_id)

        found = await run_in_threadpool(lookup)
        if found is None:
            raise HTTPException(401, "unknown token", {"WWW-Authenticate": "Bearer"})
        cache[digest] = found
    return found


def campaign_by_name(session: Session, name: str) -> Campaign:
    found = session.scalar(select(Campaign).where(Campaign.name == name)) if NAME.match(name) else None
    if found is None:
        raise HTTPException(404, "no such campaign")
    return found


def agent_by_name(session: Session, campaign: Campaign, name: str) -> Agent:
    found = session.scalar(select(Agent).where(Agent.campaign_id == campaign.id, Agent.name == name)) \
        if NAME.match(name) else None
    if found is None:
        raise HTTPException(404, "no such agent")
    return found


LEDGER_PREFIX = "aar_ledger_"


def ledger_token(agent: Agent) -> str:
    """The token a researcher process holds for its own ledger (usage, state, transcript) and nothing else: a
    keyed hash of the agent (this installation's ``ledger`` key), so it needs no storage and names exactly one
    agent. The admin token used to travel to every researcher process for this: a prompt-injected loop then
    held the keys to every campaign."""
    from aar.secret_keys import installation_key

    digest = hmac.new(installation_key("ledger"), f"{agent.id}:{agent.token_sha256}".encode(), hashlib.sha256)
    return LEDGER_PREFIX + digest.hexdigest()


def ledger_agent(request: Request, campaign: str, agent: str,
                 authorization: Annotated[str | None, Header()] = None, session: Session = Depends(db)) -> Agent:
    """The agent of a ledger route, for the admin token or that agent's own ledger token (any other: 403)."""
    token = _bearer(authorization)
    me = agent_by_name(session, campaign_by_name(session, campaign), agent)
    if hmac.compare_digest(token_digest(token), request.app.state.admin_digest):
        return me
    if token.startswith(LEDGER_PREFIX) and hmac.compare_digest(token, ledger_token(me)):
        return me
    raise HTTPException(403, "the admin token or this agent's ledger token is required")
