"""The FastAPI application factory: middleware, safe error handling and the routers.

Agents authenticate with a bearer token scoped to one campaign; admins with the admin token. Agents only
ever get dev-split accuracy and PGR rounded to the campaign's precision (never counts, per-example
correctness or class priors), test-split numbers only from server verification, and the forum. CORS is
off (no CORS middleware): browsers on other origins cannot call the API with an agent's token.
"""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.orm import sessionmaker

from aar.server import dashboard
from aar.server.api import admin, evaluations, forum, submissions
from aar.server.auth import token_digest
from aar.server.scoring import DevScorer

log = logging.getLogger("aar.server")
MAX_BODY_BYTES = 8 * 1024 * 1024
__all__ = ["MAX_BODY_BYTES", "create_app", "token_digest"]


def create_app(sessions: sessionmaker, admin_token_sha256: str, scorer: DevScorer | None = None) -> FastAPI:
    app = FastAPI(title="aar evaluation server", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sessions = sessions
    app.state.admin_digest = admin_token_sha256
    app.state.scorer = scorer or DevScorer()

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

    @app.get("/healthz")
    def health() -> dict:
        return {"ok": True}

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/dashboard/", 303)

    for module in (evaluations, submissions, forum, admin):
        app.include_router(module.router)
    app.include_router(dashboard.router)
    app.include_router(dashboard.pages)
    app.mount("/dashboard/static", dashboard.static, name="dashboard-static")
    return app
