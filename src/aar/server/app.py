"""The FastAPI application: identities, budgeted dev evaluation, and the evaluation log.

Agents authenticate with a bearer token scoped to one campaign; admins with the admin token. Agents only
ever get dev-split accuracy and PGR rounded to the campaign's precision: never counts, per-example
correctness or class priors. Every scored query is stored with its full prediction vector.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import uuid
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from aar.errors import AarError
from aar.fsio import sha256_json
from aar.server.models import Agent, Campaign, Evaluation
from aar.server.scoring import DevScorer

log = logging.getLogger("aar.server")
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_BODY_BYTES = 8 * 1024 * 1024


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CampaignIn(BaseModel):
    name: str = Field(pattern=NAME.pattern)
    dev_budget: int = Field(default=50, ge=0, le=100_000)
    round_digits: int = Field(default=2, ge=0, le=4)


class AgentIn(BaseModel):
    name: str = Field(pattern=NAME.pattern)


class EvaluationIn(BaseModel):
    task: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")
    split: str = Field(max_length=16)
    predictions: dict[Annotated[str, Field(max_length=64)], float] = Field(max_length=200_000)

    @field_validator("predictions")
    @classmethod
    def _probabilities(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            raise ValueError("predictions must not be empty")
        if any(not (0.0 <= p <= 1.0) for p in value.values()):  # NaN fails both comparisons
            raise ValueError("every prediction must be a probability in [0, 1]")
        return value


def create_app(sessions: sessionmaker, admin_token_sha256: str, scorer: DevScorer | None = None) -> FastAPI:
    app = FastAPI(title="aar evaluation server", docs_url=None, redoc_url=None)
    scorer = scorer or DevScorer()

    @app.middleware("http")
    async def request_context(request: Request, call_next):
        request_id = uuid.uuid4().hex[:16]
        request.state.request_id = request_id
        length = request.headers.get("content-length")
        if request.method in ("POST", "PUT", "PATCH"):
            if length is None:
                return JSONResponse({"error": "Content-Length required"}, 411, {"X-Request-ID": request_id})
            if not length.isdigit() or int(length) > MAX_BODY_BYTES:
                return JSONResponse({"error": f"body larger than {MAX_BODY_BYTES} bytes"}, 413,
                                    {"X-Request-ID": request_id})
        try:
            response = await call_next(request)
        except Exception:  # never leak a stack trace or a path to a client
            log.exception("request %s failed", request_id)
            response = JSONResponse({"error": "internal error", "request_id": request_id}, 500)
        response.headers["X-Request-ID"] = request_id
        log.info("%s %s %s -> %s", request_id, request.method, request.url.path, response.status_code)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()[:20]]
        return JSONResponse({"error": "invalid request", "details": details}, 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)

    def db() -> Iterator[Session]:
        with sessions() as session:
            yield session

    def bearer(authorization: str | None) -> str:
        if not authorization or not authorization.startswith("Bearer ") or len(authorization) > 200:
            raise HTTPException(401, "missing or malformed bearer token", {"WWW-Authenticate": "Bearer"})
        return authorization.removeprefix("Bearer ").strip()

    def admin(authorization: Annotated[str | None, Header()] = None) -> None:
        if not hmac.compare_digest(token_digest(bearer(authorization)), admin_token_sha256):
            raise HTTPException(403, "admin token required")

    def agent(authorization: Annotated[str | None, Header()] = None,
              session: Session = Depends(db)) -> Agent:
        found = session.scalar(select(Agent).where(Agent.token_sha256 == token_digest(bearer(authorization))))
        if found is None:
            raise HTTPException(401, "unknown token", {"WWW-Authenticate": "Bearer"})
        return found

    @app.get("/healthz")
    def health() -> dict:
        return {"ok": True}

    @app.post("/v1/admin/campaigns", status_code=201, dependencies=[Depends(admin)])
    def create_campaign(body: CampaignIn, session: Session = Depends(db)) -> dict:
        campaign = Campaign(name=body.name, dev_budget=body.dev_budget, round_digits=body.round_digits)
        session.add(campaign)
        try:
            session.commit()
        except IntegrityError:
            raise HTTPException(409, f"campaign {body.name!r} exists") from None
        return {"name": campaign.name, "dev_budget": campaign.dev_budget, "round_digits": campaign.round_digits}

    def campaign_by_name(session: Session, name: str) -> Campaign:
        found = session.scalar(select(Campaign).where(Campaign.name == name)) if NAME.match(name) else None
        if found is None:
            raise HTTPException(404, "no such campaign")
        return found

    @app.post("/v1/admin/campaigns/{campaign}/agents", status_code=201, dependencies=[Depends(admin)])
    def create_agent(campaign: str, body: AgentIn, session: Session = Depends(db)) -> dict:
        owner = campaign_by_name(session, campaign)
        token = "aar_" + secrets.token_urlsafe(32)
        session.add(Agent(campaign_id=owner.id, name=body.name, token_sha256=token_digest(token)))
        try:
            session.commit()
        except IntegrityError:
            raise HTTPException(409, f"agent {body.name!r} exists in {campaign!r}") from None
        return {"campaign": owner.name, "agent": body.name, "token": token}  # shown once, stored hashed

    @app.get("/v1/admin/campaigns/{campaign}", dependencies=[Depends(admin)])
    def campaign_status(campaign: str, session: Session = Depends(db)) -> dict:
        owner = campaign_by_name(session, campaign)
        agents = session.scalars(select(Agent).where(Agent.campaign_id == owner.id).order_by(Agent.name)).all()
        return {"name": owner.name, "dev_budget": owner.dev_budget, "round_digits": owner.round_digits,
                "agents": [{"name": a.name, "dev_evals_used": a.dev_evals_used,
                            "created_at": a.created_at.isoformat()} for a in agents]}

    @app.get("/v1/admin/campaigns/{campaign}/evaluations.jsonl", dependencies=[Depends(admin)])
    def export_evaluations(campaign: str, session: Session = Depends(db)) -> StreamingResponse:
        owner = campaign_by_name(session, campaign)
        rows = session.execute(select(Evaluation, Agent.name).join(Agent).where(Evaluation.campaign_id == owner.id)
                               .order_by(Evaluation.id)).all()

        def lines() -> Iterator[str]:
            for ev, agent_name in rows:
                yield json.dumps({"id": ev.id, "agent": agent_name, "time": ev.created_at.isoformat(),
                                  "task": ev.task, "split": ev.split, "sha256": ev.predictions_sha256,
                                  "accuracy": ev.accuracy, "pgr": ev.pgr, "request_id": ev.request_id,
                                  "predictions": ev.predictions}) + "\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.post("/v1/evaluations")
    def evaluate(body: EvaluationIn, request: Request, me: Agent = Depends(agent),
                 session: Session = Depends(db)) -> dict:
        if body.split != "dev":
            raise HTTPException(403, "only the dev split is scored for agents; test is scored at verification")
        try:
            accuracy, pgr = scorer.score(body.task, body.predictions)  # validate before spending budget
        except AarError as exc:
            raise HTTPException(422, str(exc)) from None
        campaign = session.get(Campaign, me.campaign_id)
        assert campaign is not None
        spent = session.execute(update(Agent).where(Agent.id == me.id, Agent.dev_evals_used < campaign.dev_budget)
                                .values(dev_evals_used=Agent.dev_evals_used + 1))
        if spent.rowcount != 1:  # atomic: concurrent requests can never exceed the budget
            session.rollback()
            raise HTTPException(429, f"dev evaluation budget of {campaign.dev_budget} is used up")
        session.add(Evaluation(agent_id=me.id, campaign_id=campaign.id, task=body.task, split=body.split,
                               predictions_sha256=sha256_json(body.predictions), predictions=body.predictions,
                               accuracy=accuracy, pgr=pgr, request_id=request.state.request_id))
        session.commit()
        used = session.scalar(select(Agent.dev_evals_used).where(Agent.id == me.id))
        digits = campaign.round_digits
        return {"task": body.task, "split": "dev", "accuracy": round(accuracy, digits),
                "pgr": None if pgr is None else round(pgr, digits),
                "budget_remaining": campaign.dev_budget - int(used or 0)}

    return app
