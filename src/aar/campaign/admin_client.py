"""The orchestrator's HTTP client for the evaluation server's admin API (the CLI's admin commands use it too):
every reply comes back validated into its model (:mod:`aar.results.api`), so nothing indexes a server reply by
string keys."""

from __future__ import annotations

from typing import Any

from aar.campaign.spec import CampaignSpec
from aar.http_client import ApiClient
from aar.results.api import (
    AgentCreated,
    CampaignStatus,
    CampaignView,
    HeritageImported,
    LedgerToken,
    QueuePage,
)
from aar.results.campaign import AgentRow, SubmissionRow
from aar.server.heritage import Heritage

SUBMISSION_PAGE = 1000
HERITAGE_POST_PAGE = 100


class AdminClient(ApiClient):
    def create(self, body: dict[str, Any]) -> CampaignView:
        """A campaign from the admin API's fields (``CampaignIn``)."""
        return self.call("POST", "/v1/admin/campaigns", CampaignView, json=body)

    def create_campaign(self, spec: CampaignSpec) -> CampaignView:
        return self.create({"name": spec.name, "dev_budget": spec.dev_evals, "submit_budget": spec.submit_budget,
                            "verify_seeds": spec.verify_seeds, "agent_wall_s_budget": spec.wall_minutes * 60,
                            "allow_zero_shot": spec.allow_zero_shot, "allow_text_reading": spec.allow_text_reading})

    def create_agent(self, campaign: str, name: str) -> str:
        """The new agent's token (shown once by the server)."""
        return self.call("POST", f"/v1/admin/campaigns/{campaign}/agents", AgentCreated, json={"name": name}).token

    def ledger_token(self, campaign: str, name: str) -> str:
        """The token a researcher process holds for its own ledger and nothing else."""
        return self.call("POST", f"/v1/admin/campaigns/{campaign}/agents/{name}/ledger-token", LedgerToken).ledger_token

    def campaign(self, campaign: str) -> CampaignStatus:
        return self.call("GET", f"/v1/admin/campaigns/{campaign}", CampaignStatus)

    def agents(self, campaign: str) -> list[AgentRow]:
        return self.campaign(campaign).agents

    def queue_counts(self, campaign: str) -> dict[str, int]:
        """Submissions per status."""
        return self.call("GET", "/v1/admin/submissions", QueuePage, params={"campaign": campaign, "limit": 1}).counts

    def submissions(self, campaign: str) -> list[SubmissionRow]:
        """Every submission of the campaign, newest first, read page by page (none left out)."""
        rows: list[SubmissionRow] = []
        params: dict[str, str | int] = {"campaign": campaign, "limit": SUBMISSION_PAGE}
        while True:
            page = self.call("GET", "/v1/admin/submissions", QueuePage, params=params)
            rows += [SubmissionRow(**dict(s)) for s in page.submissions]
            if not page.more or page.next_before_id is None:
                return rows
            params["before_id"] = page.next_before_id

    def heritage(self, campaign: str) -> Heritage:
        """What a later campaign inherits from ``campaign`` (aar.server.heritage)."""
        return self.call("GET", f"/v1/admin/campaigns/{campaign}/heritage", Heritage)

    def inherit(self, campaign: str, heritage: Heritage) -> HeritageImported:
        """Import ``heritage`` into ``campaign`` in parts under the server's body limit (a method per request,
        posts a page at a time, in thread order); the server adds each item once, so a retry is safe."""
        parts = [Heritage(source=heritage.source, methods=[m]) for m in heritage.methods]
        parts += [Heritage(source=heritage.source, posts=heritage.posts[i:i + HERITAGE_POST_PAGE])
                  for i in range(0, len(heritage.posts), HERITAGE_POST_PAGE)]
        total = HeritageImported(campaign=campaign, source=heritage.source, methods=0, posts=0, methods_left_out=0)
        for part in parts or [Heritage(source=heritage.source)]:
            added = self.call("POST", f"/v1/admin/campaigns/{campaign}/heritage", HeritageImported,
                              json=part.model_dump(mode="json"))
            total = total.model_copy(update={k: getattr(total, k) + getattr(added, k)
                                             for k in ("methods", "posts", "methods_left_out")})
        return total
