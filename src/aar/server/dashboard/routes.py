"""Dashboard pages and their live fragments (JSON ``{"html", "cursor"}`` for the rows past a cursor)."""

from __future__ import annotations

import hmac
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
from sqlalchemy.orm import Session

from aar.results.intervals import format_interval
from aar.server.auth import agent_by_name, campaign_by_name, db, token_digest
from aar.server.dashboard import queries
from aar.server.dashboard.session import COOKIE, require_session, session_value
from aar.server.views import campaign_totals

HERE = Path(str(files("aar.server.dashboard")))
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(prefix="/dashboard")
pages = APIRouter(prefix="/dashboard", dependencies=[Depends(require_session)])
static = StaticFiles(directory=str(HERE / "static"))
Cursor = Annotated[int, Query(ge=0, le=2**62)]


def _number(value: object, digits: int = 2) -> str:
    """Missing values (None, or a key a row does not have: Jinja's Undefined) show as a dash."""
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "–"


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M:%S")


templates.env.filters.update(interval=format_interval, number=_number, when=_when)


def _page(request: Request, name: str, **context) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context)


class Fragment(BaseModel):
    """A live table's rows past a cursor, rendered: the page appends ``html`` and polls again from ``cursor``."""

    html: str
    cursor: int
    count: int


def _fragment(request: Request, name: str, response: Response, rows: queries.Rows, **context) -> Fragment:
    html = templates.get_template(name).render(rows=rows.rows, request=request, **context)
    response.headers["Cache-Control"] = "no-store"
    return Fragment(html=html, cursor=rows.cursor, count=len(rows.rows))


# --- sign-in ---------------------------------------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return _page(request, "login.html", error=None)


@router.post("/login", response_model=None, response_class=HTMLResponse,
             responses={303: {"description": "signed in: a redirect to the dashboard, with the session cookie"},
                        403: {"description": "not the admin token: the sign-in page again"}})
def login(request: Request, token: Annotated[str, Form(max_length=200)]) -> Response:
    if not hmac.compare_digest(token_digest(token.strip()), request.app.state.admin_digest):
        refused = _page(request, "login.html", error="That is not the admin token.")
        refused.status_code = 403
        return refused
    response = RedirectResponse("/dashboard/", 303)
    response.set_cookie(COOKIE, session_value(request.app.state.admin_digest), httponly=True, samesite="strict",
                        path="/dashboard", max_age=7 * 86400, secure=request.url.scheme == "https")
    return response


@router.post("/logout", response_class=RedirectResponse, status_code=303,
             responses={303: {"description": "signed out: a redirect to the sign-in page"}})
def logout() -> RedirectResponse:
    response = RedirectResponse("/dashboard/login", 303)
    response.delete_cookie(COOKIE, path="/dashboard")
    return response


# --- pages -----------------------------------------------------------------------------------------------
@pages.get("/", response_class=HTMLResponse)
def campaigns_page(request: Request, session: Session = Depends(db)) -> HTMLResponse:
    return _page(request, "campaigns.html", campaigns=queries.campaigns(session))


@pages.get("/c/{campaign}", response_class=HTMLResponse)
def campaign_page(request: Request, campaign: str, session: Session = Depends(db)) -> HTMLResponse:
    c = campaign_by_name(session, campaign)
    return _page(request, "campaign.html", campaign=c, tab="overview", totals=campaign_totals(session, c),
                 agents=queries.agents(session, c), best=queries.best_by_task(session, c))


@pages.get("/c/{campaign}/agents.json")
def agents_fragment(request: Request, response: Response, campaign: str, session: Session = Depends(db)) -> Fragment:
    """The agents table is a status board (one row per agent), so a poll re-renders it whole."""
    c = campaign_by_name(session, campaign)
    rows = queries.Rows(queries.agents(session, c), 0)
    return _fragment(request, "_agent_rows.html", response, rows, campaign=c)


@pages.get("/c/{campaign}/agents/{agent}", response_class=HTMLResponse)
def agent_page(request: Request, campaign: str, agent: str, session: Session = Depends(db)) -> HTMLResponse:
    c = campaign_by_name(session, campaign)
    a = agent_by_name(session, c, agent)
    view = next(row for row in queries.agents(session, c) if row["name"] == a.name)
    events = queries.transcript(session, a, 0)
    return _page(request, "agent.html", campaign=c, tab="overview", agent=view, events=events)


@pages.get("/c/{campaign}/agents/{agent}/transcript.json")
def transcript_fragment(request: Request, response: Response, campaign: str, agent: str, after: Cursor = 0,
                        session: Session = Depends(db)) -> Fragment:
    c = campaign_by_name(session, campaign)
    rows = queries.transcript(session, agent_by_name(session, c, agent), after)
    return _fragment(request, "_transcript_rows.html", response, rows)


@pages.get("/c/{campaign}/leaderboard", response_class=HTMLResponse)
def leaderboard_page(request: Request, campaign: str, session: Session = Depends(db)) -> HTMLResponse:
    c = campaign_by_name(session, campaign)
    return _page(request, "leaderboard.html", campaign=c, tab="leaderboard", rows=queries.leaderboard(session, c))


@pages.get("/c/{campaign}/leaderboard.json")
def leaderboard_fragment(request: Request, response: Response, campaign: str,
                         session: Session = Depends(db)) -> Fragment:
    """Ranks move when a submission is verified, so the (short, one row per submission) table is re-sent."""
    c = campaign_by_name(session, campaign)
    return _fragment(request, "_leaderboard_rows.html", response, queries.Rows(queries.leaderboard(session, c), 0))


@pages.get("/c/{campaign}/forum", response_class=HTMLResponse)
def forum_page(request: Request, campaign: str, session: Session = Depends(db)) -> HTMLResponse:
    c = campaign_by_name(session, campaign)
    return _page(request, "forum.html", campaign=c, tab="forum", posts=queries.posts(session, c, 0))


@pages.get("/c/{campaign}/forum.json")
def forum_fragment(request: Request, response: Response, campaign: str, after: Cursor = 0,
                   session: Session = Depends(db)) -> Fragment:
    c = campaign_by_name(session, campaign)
    return _fragment(request, "_post_rows.html", response, queries.posts(session, c, after), campaign=c)


@pages.get("/c/{campaign}/forum/{post_id}", response_class=HTMLResponse)
def thread_page(request: Request, campaign: str, post_id: int, session: Session = Depends(db)) -> HTMLResponse:
    c = campaign_by_name(session, campaign)
    posts = queries.thread(session, c, post_id)
    if not posts:
        raise HTTPException(404, "no such post")
    return _page(request, "thread.html", campaign=c, tab="forum", posts=posts)


@pages.get("/c/{campaign}/evaluations", response_class=HTMLResponse)
def evaluations_page(request: Request, campaign: str, session: Session = Depends(db)) -> HTMLResponse:
    c = campaign_by_name(session, campaign)
    return _page(request, "evaluations.html", campaign=c, tab="evaluations",
                 evaluations=queries.evaluations(session, c, 0))


@pages.get("/c/{campaign}/evaluations.json")
def evaluations_fragment(request: Request, response: Response, campaign: str, after: Cursor = 0,
                         session: Session = Depends(db)) -> Fragment:
    c = campaign_by_name(session, campaign)
    return _fragment(request, "_evaluation_rows.html", response, queries.evaluations(session, c, after))


@pages.get("/c/{campaign}/submissions", response_class=HTMLResponse)
def submissions_page(request: Request, campaign: str, session: Session = Depends(db)) -> HTMLResponse:
    c = campaign_by_name(session, campaign)
    return _page(request, "submissions.html", campaign=c, tab="submissions",
                 submissions=queries.submissions(session, c, 0, []))


@pages.get("/c/{campaign}/submissions.json")
def submissions_fragment(request: Request, response: Response, campaign: str, after: Cursor = 0,
                         open: Annotated[str, Query(max_length=2000, pattern=r"^[0-9,]*$")] = "",
                         session: Session = Depends(db)) -> Fragment:
    c = campaign_by_name(session, campaign)
    open_ids = [int(x) for x in open.split(",") if x][: queries.PAGE]
    return _fragment(request, "_submission_rows.html", response, queries.submissions(session, c, after, open_ids))


@pages.get("/c/{campaign}/transfer", response_class=HTMLResponse)
def transfer_page(request: Request, campaign: str, session: Session = Depends(db)) -> HTMLResponse:
    """The gauntlet's lab-vs-transfer table, from ``transfer.json`` in the campaign's folder (written by
    `aar transfer` and at the end of `aar run`)."""
    from aar import paths
    from aar.results import transfer as view

    c = campaign_by_name(session, campaign)
    result = view.load_transfer(paths.campaign_dir(c.name))
    table = None if result is None else {"columns": view.header(result), "rows": view.rows(result)}
    return _page(request, "transfer.html", campaign=c, tab="transfer", result=result, table=table)


@pages.get("/c/{campaign}/integrity", response_class=HTMLResponse)
def integrity_page(request: Request, campaign: str, session: Session = Depends(db)) -> HTMLResponse:
    c = campaign_by_name(session, campaign)
    return _page(request, "integrity.html", campaign=c, tab="integrity", findings=queries.findings(session, c))
