"""The orchestrator's HTTP client for the evaluation server's admin API: every read it makes comes back
validated into the result models, so the campaign never indexes a server reply by string keys."""

from __future__ import annotations

from typing import Any

import httpx

from aar.campaign.spec import CampaignSpec
from aar.errors import AarError
from aar.results.campaign import AgentRow, SubmissionRow

SUBMISSION_PAGE = 1000
HERITAGE_POST_PAGE = 100


class AdminClient:
    def __init__(self, base: str, token: str, timeout_s: float = 120):
        self.base, self.token, self.timeout_s = base, token, timeout_s

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        r = httpx.request(method, f"{self.base}{path}", headers={"Authorization": f"Bearer {self.token}"},
                          timeout=self.timeout_s, **kwargs)
        if r.status_code >= 400:
            raise AarError(f"server said {r.status_code} to {method} {path}: {r.text[:300]}")
        return r.json()

    def create_campaign(self, spec: CampaignSpec) -> None:
        self.call("POST", "/v1/admin/campaigns", json={
            "name": spec.name, "dev_budget": spec.dev_evals, "submit_budget": spec.submit_budget,
            "verify_seeds": spec.verify_seeds, "agent_wall_s_budget": spec.wall_minutes * 60,
            "allow_zero_shot": spec.allow_zero_shot, "allow_text_reading": spec.allow_text_reading})

    def create_agent(self, campaign: str, name: str) -> str:
        """The new agent's token (shown once by the server)."""
        return str(self.call("POST", f"/v1/admin/campaigns/{campaign}/agents", json={"name": name})["token"])

    def ledger_token(self, campaign: str, name: str) -> str:
        """The token a researcher process holds for its own ledger and nothing else."""
        return str(self.call("POST", f"/v1/admin/campaigns/{campaign}/agents/{name}/ledger-token")["ledger_token"])

    def agents(self, campaign: str) -> list[AgentRow]:
        return [AgentRow.model_validate(a) for a in self.call("GET", f"/v1/admin/campaigns/{campaign}")["agents"]]

    def queue_counts(self, campaign: str) -> dict[str, int]:
        """Submissions per status."""
        counts = self.call("GET", "/v1/admin/submissions", params={"campaign": campaign})["counts"]
        return {str(k): int(v) for k, v in counts.items()}

    def submissions(self, campaign: str) -> list[SubmissionRow]:
        """Every submission of the campaign, newest first, read page by page (none left out)."""
        rows: list[SubmissionRow] = []
        params: dict[str, str | int] = {"campaign": campaign, "limit": SUBMISSION_PAGE}
        while True:
            page = self.call("GET", "/v1/admin/submissions", params=params)
            rows += [SubmissionRow.model_validate(s) for s in page["submissions"]]
            if not page.get("more"):
                return rows
            params["before_id"] = int(page["next_before_id"])

    def heritage(self, campaign: str) -> dict:
        """What a later campaign inherits from ``campaign`` (aar.server.heritage), as the server sent it."""
        return dict(self.call("GET", f"/v1/admin/campaigns/{campaign}/heritage"))

    def inherit(self, campaign: str, heritage: dict) -> dict[str, int]:
        """Import ``heritage`` into ``campaign`` in parts under the server's body limit (a method per request,
        posts a page at a time, in thread order); the server adds each item once, so a retry is safe."""
        source = heritage["source"]
        parts = [{"source": source, "methods": [m], "posts": []} for m in heritage.get("methods", [])]
        posts = heritage.get("posts", [])
        parts += [{"source": source, "methods": [], "posts": posts[i:i + HERITAGE_POST_PAGE]}
                  for i in range(0, len(posts), HERITAGE_POST_PAGE)]
        total = {"methods": 0, "posts": 0, "methods_left_out": 0}
        for part in parts or [{"source": source}]:
            added = self.call("POST", f"/v1/admin/campaigns/{campaign}/heritage", json=part)
            total = {k: total[k] + int(added.get(k, 0)) for k in total}
        return total
