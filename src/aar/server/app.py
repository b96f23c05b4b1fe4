"""The FastAPI application factory: middleware, safe error handling and the routers.

Agents authenticate with a bearer token scoped to one campaign; admins with the admin token. Agents only
ever get dev-split accuracy and PGR rounded to the campaign's precision (never counts, per-example
correctness or class priors), test-split numbers only from server verification, and the forum. CORS is
off (no CORS middleware): browsers on other origins cannot call the API with an agent's token.
"""

from __future__ import annotations

import logging
import os

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.orm import sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aar.results.api import Health
from aar.server import dashboard
from aar.server.api import admin, evaluations, experiments, forum, inherited, ledger, me, submissions
from aar.server.auth import token_digest
from aar.server.eval_writer import EvaluationWriter
from aar.server.scoring import DevScorer

log = logging.getLogger("aar.server")
MAX_BODY_BYTES = 8 * 1024 * 1024
__all__ = ["MAX_BODY_BYTES", "create_app", "token_digest"]


class RequestContext:
    """Plain ASGI middleware: a request id on every request and response, the body-size limit, and a JSON 500
    without a stack trace for any unhandled error. (The decorator-style middleware it replaces wrapped every
    request in extra tasks and streams, about 16% of server CPU at 32 clients; no per-request log line either:
    ``aar serve --access-log`` turns uvicorn's on.)"""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = os.urandom(8).hex()
        scope.setdefault("state", {})["request_id"] = request_id
        id_header = {"X-Request-ID": request_id}
        if scope["method"] in ("POST", "PUT", "PATCH"):
            length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
            refusal = None
            if length is None:
                refusal = JSONResponse({"error": "Content-Length required"}, 411, id_header)
            elif not length.isdigit() or int(length) > MAX_BODY_BYTES:
                refusal = JSONResponse({"error": f"body larger than {MAX_BODY_BYTES} bytes"}, 413, id_header)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        started = False
        raw_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), raw_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:  # never leak a stack trace or a path to a client
            log.exception("request %s failed", request_id)
            if started:
                raise
            await JSONResponse({"error": "internal error", "request_id": request_id}, 500, id_header)(
                scope, receive, send)


def create_app(sessions: sessionmaker, admin_token_sha256: str, scorer: DevScorer | None = None) -> FastAPI:
    writer = EvaluationWriter(sessions.kw["bind"])

    app = FastAPI(title="aar evaluation server", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sessions = sessions
    app.state.admin_digest = admin_token_sha256
    app.state.scorer = scorer or DevScorer()
    app.state.writer = writer
    app.state.token_cache = {}
    app.add_middleware(RequestContext)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()[:20]]
        return JSONResponse({"error": "invalid request", "details": details}, 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)

    @app.get("/healthz")
    def health() -> Health:
        return Health(ok=True)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/dashboard/", 303)

    for module in (evaluations, experiments, submissions, forum, inherited, me, ledger, admin):
        app.include_router(module.router)
    app.include_router(dashboard.router)
    app.include_router(dashboard.pages)
    app.mount("/dashboard/static", dashboard.static, name="dashboard-static")
    return app
