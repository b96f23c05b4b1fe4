"""The evaluation server as an agent's tools see it: one client per agent token (never inside a sandbox),
plus the researcher process's ledger calls with its ledger token. Every reply comes back as its model
(:mod:`aar.results.api`), validated."""

from __future__ import annotations

import base64
from typing import Any

from aar.http_client import ApiClient, ServerError
from aar.results.api import (
    AgentView,
    EvaluationReply,
    ExperimentList,
    ExperimentSummary,
    ExperimentView,
    InheritedList,
    LeaderboardEntry,
    PostPage,
    PostView,
    SearchReply,
    Standing,
    SubmissionList,
    SubmissionView,
    TaskInfo,
    Thread,
    TranscriptPage,
    TranscriptStored,
    UsageReply,
    VoteReply,
)
from aar.results.api import Leaderboard as Board

__all__ = ["AgentClient", "Ledger", "ServerError"]


class AgentClient(ApiClient):
    def me(self) -> Standing:
        return self.call("GET", "/v1/me", Standing)

    def task_info(self, task: str) -> TaskInfo:
        return self.call("GET", f"/v1/tasks/{task}", TaskInfo)

    def start_experiment(self, task: str, entry: str, params: dict, seeds: list[int],
                         archive: bytes | None) -> ExperimentView:
        body = {"task": task, "entry": entry, "params": params, "seeds": seeds}
        if archive is not None:
            body["archive"] = base64.b64encode(archive).decode()
        return self.call("POST", "/v1/experiments", ExperimentView, json=body)

    def experiments(self) -> list[ExperimentSummary]:
        return self.call("GET", "/v1/experiments", ExperimentList).experiments

    def experiment(self, experiment_id: int) -> ExperimentView:
        return self.call("GET", f"/v1/experiments/{int(experiment_id)}", ExperimentView)

    def evaluate(self, task: str, predictions: dict[str, float]) -> EvaluationReply:
        return self.call("POST", "/v1/evaluations", EvaluationReply,
                         json={"task": task, "split": "dev", "predictions": predictions})

    def evaluate_experiment(self, task: str, experiment_id: int) -> EvaluationReply:
        """One of this agent's finished experiments, scored per seed and averaged (as verification scores)."""
        return self.call("POST", "/v1/evaluations", EvaluationReply,
                         json={"task": task, "split": "dev", "experiment_id": experiment_id})

    def submit(self, task: str, entry: str, archive: bytes | None, params: dict | None = None) -> SubmissionView:
        """``archive`` None: ``entry`` is a built-in method's name, packed by the server."""
        body = {"task": task, "entry": entry, "params": params or {}}
        if archive is not None:
            body["archive"] = base64.b64encode(archive).decode()
        return self.call("POST", "/v1/submissions", SubmissionView, json=body)

    def submission(self, submission_id: int) -> SubmissionView:
        return self.call("GET", f"/v1/submissions/{submission_id}", SubmissionView)

    def submissions(self) -> list[SubmissionView]:
        return self.call("GET", "/v1/submissions", SubmissionList).submissions

    def inherited(self) -> InheritedList:
        return self.call("GET", "/v1/inherited", InheritedList)

    def leaderboard(self, task: str | None = None) -> list[LeaderboardEntry]:
        return self.call("GET", "/v1/leaderboard", Board, params={"task": task} if task else {}).entries

    def post(self, title: str, body: str, kind: str, tags: list[str] | None = None,
             submission_id: int | None = None) -> PostView:
        payload: dict[str, object] = {"title": title, "body": body, "kind": kind, "tags": tags or []}
        if submission_id is not None:
            payload["submission_id"] = submission_id
        return self.call("POST", "/v1/forum/posts", PostView, json=payload)

    def reply(self, post_id: int, body: str) -> PostView:
        return self.call("POST", f"/v1/forum/posts/{post_id}/replies", PostView, json={"body": body})

    def posts(self, since: int = 0, limit: int = 50, **filters: Any) -> PostPage:
        return self.call("GET", "/v1/forum/posts", PostPage, params={"since": since, "limit": limit, **filters})

    def thread(self, post_id: int) -> Thread:
        return self.call("GET", f"/v1/forum/posts/{post_id}", Thread)

    def search(self, query: str, limit: int = 10) -> list[PostView]:
        return self.call("GET", "/v1/forum/search", SearchReply, params={"q": query, "limit": limit}).posts

    def vote(self, post_id: int, value: int) -> VoteReply:
        return self.call("PUT", f"/v1/forum/posts/{post_id}/vote", VoteReply, json={"value": value})


class Ledger:
    """A researcher's accounting calls (its own ledger token, :func:`aar.server.auth.ledger_token`): record usage,
    read totals and budgets, mirror the transcript, set its state."""

    def __init__(self, base_url: str, ledger_token: str, campaign: str, agent: str):
        self.client = ApiClient(base_url, ledger_token)
        self.path = f"/v1/admin/campaigns/{campaign}/agents/{agent}"

    def record(self, **usage: Any) -> UsageReply:
        """Add usage; returns the agent's totals, budgets and, if a budget is now spent, ``exceeded``."""
        return self.client.call("POST", f"{self.path}/usage", UsageReply, json=usage)

    def send_transcript(self, events: list[dict]) -> int:
        """Mirror transcript lines to the server; answers the highest line number it holds."""
        return self.client.call("POST", f"{self.path}/transcript", TranscriptStored, json={"events": events}).max_seq

    def transcript_seq(self) -> int:
        return self.client.call("GET", f"{self.path}/transcript", TranscriptPage, params={"limit": 1}).max_seq

    def set_state(self, state: str, reason: str | None = None) -> AgentView:
        return self.client.call("PUT", f"{self.path}/state", AgentView, json={"state": state, "reason": reason})
