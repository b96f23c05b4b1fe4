"""Dashboard sign-in: the admin token is typed once; the browser then holds a cookie derived from it.

The cookie is an HMAC of a fixed label under the admin token's digest, so it proves knowledge of the token
without being the token (it cannot call the API), it changes when the admin token changes, and it is
HttpOnly and SameSite=Strict (no script can read it and no other site can make the browser send it).
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import HTTPException, Request

COOKIE = "aar_dashboard"
LABEL = b"aar-dashboard-session-v1"


class LoginRequired(HTTPException):
    def __init__(self) -> None:
        super().__init__(303, "sign in", {"Location": "/dashboard/login"})


def session_value(admin_digest: str) -> str:
    return hmac.new(admin_digest.encode(), LABEL, hashlib.sha256).hexdigest()


def require_session(request: Request) -> None:
    cookie = request.cookies.get(COOKIE, "")
    if not hmac.compare_digest(cookie, session_value(request.app.state.admin_digest)):
        raise LoginRequired()
