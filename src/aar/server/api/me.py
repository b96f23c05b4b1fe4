"""``GET /v1/me``: an agent's own standing in its campaign, so a researcher (an MCP client above all, which
gets no system prompt of ours) can plan: budgets, what it has spent of each and what is left.

Only the caller's own counters and its campaign's limits: nothing about other agents, no scores."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from aar.results.api import Budget, Standing
from aar.server.auth import current_agent, db
from aar.server.models import Agent, Campaign
from aar.server.views import agent_spend

router = APIRouter()


def _budget(used: float, budget: float, digits: int = 0) -> Budget:
    return Budget(budget=budget, used=round(used, digits), left=round(max(0, budget - used), digits))


@router.get("/v1/me")
def me(agent: Agent = Depends(current_agent), session: Session = Depends(db)) -> Standing:
    campaign = session.get(Campaign, agent.campaign_id)
    assert campaign is not None
    spent = agent_spend(agent, campaign)
    return Standing(
        agent=agent.name, campaign=campaign.name, state=agent.state,
        dev_evaluations=_budget(agent.dev_evals_used, campaign.dev_budget),
        submissions=_budget(agent.submissions_used, campaign.submit_budget),
        usd=_budget(*spent["usd"], 4),
        tokens=_budget(*spent["tokens"]),
        # dollars and tokens count only LLM usage a runner of ours reports; an external client's own is unseen
        llm_usage=("metered: reported by the process that runs this agent" if agent.llm_calls else
                   "unmetered: no LLM usage has been reported for this agent (an external client such as an "
                   "MCP client pays its own tokens, which aar does not see); dollars and tokens read 0"),
        compute_s=_budget(*spent["compute_s"], 1),
        verification_seeds=len(campaign.verify_seeds),
        policy=campaign.policy,  # what attribution classes rank (aar.results.attribution)
    )
