"""The one HTTP client of the evaluation server: the researchers' agent client and the orchestrator's admin
client both derive from :class:`ApiClient`, so a request is sent, an error is read and a reply is validated
the same way everywhere, and every failure is one :class:`ServerError` (status 0 when the server could not be
reached) that says the method, the path, the status and the server's own reason."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from aar.errors import AarError

Reply = TypeVar("Reply", bound=BaseModel)
MESSAGE_CHARS = 600  # of a server's error text kept in the exception (a validation error lists its fields)


class ServerError(AarError):
    """The server refused or failed a request (``status`` its HTTP status; 0 when it was not reached, or its
    reply did not have the promised shape)."""

    def __init__(self, status: int, message: str, method: str = "", path: str = ""):
        where = f" to {method} {path}" if method else ""
        super().__init__(f"server said {status}{where}: {message}")
        self.status, self.reason = status, message


def error_text(response: httpx.Response) -> str:
    """The server's reason: ``{"error": ...}`` (with the fields a validation error names), else the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:MESSAGE_CHARS]
    if not isinstance(body, dict):
        return str(body)[:MESSAGE_CHARS]
    message = str(body.get("error", response.text))
    if body.get("details"):
        message = f"{message}: {body['details']}"
    return message[:MESSAGE_CHARS]


class ApiClient:
    """One bearer token against one server; :meth:`call` returns the reply validated into its model."""

    def __init__(self, base_url: str, token: str, timeout_s: float = 120.0):
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {token}"},
                                 timeout=timeout_s)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ServerError(0, f"unreachable ({type(exc).__name__})", method, path) from None
        if response.status_code >= 400:
            raise ServerError(response.status_code, error_text(response), method, path)
        return response

    def call(self, method: str, path: str, reply: type[Reply], **kwargs: Any) -> Reply:
        response = self.request(method, path, **kwargs)
        try:
            return reply.model_validate_json(response.content)
        except ValidationError as exc:  # a server of another version, or a proxy's page: say so, not KeyError later
            raise ServerError(response.status_code, f"the reply is not a {reply.__name__} "
                                                    f"({exc.error_count()} problems: {exc.errors()[0]['msg']})",
                              method, path) from None

    def close(self) -> None:
        self.http.close()
