"""The evaluation server as an agent's tools see it: one client per agent token (never inside a sandbox),
plus the orchestrator's ledger calls with the admin token."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from aar.errors import AarError


class ServerError(AarError):
    def __init__(self, status: int, message: str):
        super().__init__(f"server said {status}: {message}")
        self.status = status


class AgentClient:
    def __init__(self, base_url: str, token: str, timeout_s: float = 120.0):
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s)

    def _call(self, method: str, path: str, **kwargs) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ServerError(0, f"unreachable ({type(exc).__name__})") from None
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text[:300]
            if isinstance(message, str) and response.status_code == 422 and "details" in response.text:
                message = f"{message}: {response.json().get('details')}"
            raise ServerError(response.status_code, str(message))
        return response.json()

    def me(self) -> dict:
        return self._call("GET", "/v1/me")

    def task_info(self, task: str) -> dict:
        return self._call("GET", f"/v1/tasks/{task}")

    def start_experiment(self, task: str, entry: str, params: dict, seeds: list[int],
                         archive: bytes | None) -> dict:
        body = {"task": task, "entry": entry, "params": params, "seeds": seeds}
        if archive is not None:
            body["archive"] = base64.b64encode(archive).decode()
        return self._call("POST", "/v1/experiments", json=body)

    def experiments(self) -> list[dict]:
        return self._call("GET", "/v1/experiments")["experiments"]

    def experiment(self, experiment_id: int) -> dict:
        return self._call("GET", f"/v1/experiments/{int(experiment_id)}")

    def evaluate(self, task: str, predictions: dict[str, float]) -> dict:
        return self._call("POST", "/v1/evaluations", json={"task": task, "split": "dev", "predictions": predictions})

    def evaluate_experiment(self, task: str, experiment_id: int) -> dict:
        """One of this agent's finished experiments, scored per seed and averaged (as verification scores)."""
        return self._call("POST", "/v1/evaluations", json={"task": task, "split": "dev",
                                                           "experiment_id": experiment_id})

    def submit(self, task: str, entry: str, archive: bytes | None, params: dict | None = None) -> dict:
        """``archive`` None: ``entry`` is a built-in method's name, packed by the server."""
        body = {"task": task, "entry": entry, "params": params or {}}
        if archive is not None:
            body["archive"] = base64.b64encode(archive).decode()
        return self._call("POST", "/v1/submissions", json=body)

    def submission(self, submission_id: int) -> dict:
        return self._call("GET", f"/v1/submissions/{submission_id}")

    def submissions(self) -> list[dict]:
        return self._call("GET", "/v1/submissions")["submissions"]

    def inherited(self) -> dict:
        return self._call("GET", "/v1/inherited")

    def leaderboard(self, task: str | None = None) -> list[dict]:
        return self._call("GET", "/v1/leaderboard", params={"task": task} if task else {})["entries"]

    def post(self, title: str, body: str, kind: str, tags: list[str] | None = None,
             submission_id: int | None = None) -> dict:
        payload: dict[str, object] = {"title": title, "body": body, "kind": kind, "tags": tags or []}
        if submission_id is not None:
            payload["submission_id"] = submission_id
        return self._call("POST", "/v1/forum/posts", json=payload)

    def reply(self, post_id: int, body: str) -> dict:
        return self._call("POST", f"/v1/forum/posts/{post_id}/replies", json={"body": body})

    def posts(self, since: int = 0, limit: int = 50, **filters) -> dict:
        return self._call("GET", "/v1/forum/posts", params={"since": since, "limit": limit, **filters})

    def thread(self, post_id: int) -> dict:
        return self._call("GET", f"/v1/forum/posts/{post_id}")

    def search(self, query: str, limit: int = 10) -> list[dict]:
        return self._call("GET", "/v1/forum/search", params={"q": query, "limit": limit})["posts"]

    def vote(self, post_id: int, value: int) -> dict:
        return self._call("PUT", f"/v1/forum/posts/{post_id}/vote", json={"value": value})


class Ledger:
    """A researcher's accounting calls (its own ledger token, :func:`aar.server.auth.ledger_token`): record usage,
    read totals and budgets, mirror the transcript, set its state."""

    def __init__(self, base_url: str, ledger_token: str, campaign: str, agent: str):
        self.client = AgentClient(base_url, ledger_token)
        self.path = f"/v1/admin/campaigns/{campaign}/agents/{agent}"

    def record(self, **usage: Any) -> dict:
        """Add usage; returns the agent's totals, budgets and, if a budget is now spent, ``exceeded``."""
        return self.client._call("POST", f"{self.path}/usage", json=usage)

    def send_transcript(self, events: list[dict]) -> int:
        """Mirror transcript lines to the server; answers the highest line number it holds."""
        return int(self.client._call("POST", f"{self.path}/transcript", json={"events": events})["max_seq"])

    def transcript_seq(self) -> int:
        return int(self.client._call("GET", f"{self.path}/transcript", params={"limit": 1})["max_seq"])

    def set_state(self, state: str, reason: str | None = None) -> dict:
        return self.client._call("PUT", f"{self.path}/state", json={"state": state, "reason": reason})
