"""``GET /v1/me``: an agent's own standing in its campaign, so a researcher (an MCP client above all, which
gets no system prompt of ours) can plan: budgets, what it has spent of each and what is left.

Only the caller's own counters and its campaign's limits: nothing about other agents, no scores."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from aar.server.auth import current_agent, db
from aar.server.models import Agent, Campaign

router = APIRouter()


def _left(budget: float, used: float) -> float:
    return max(0.0, budget - used)


@router.get("/v1/me")
def me(agent: Agent = Depends(current_agent), session: Session = Depends(db)) -> dict:
    campaign = session.get(Campaign, agent.campaign_id)
    assert campaign is not None
    tokens = agent.input_tokens + agent.output_tokens + agent.cached_tokens
    return {
        "agent": agent.name, "campaign": campaign.name, "state": agent.state,
        "dev_evaluations": {"budget": campaign.dev_budget, "used": agent.dev_evals_used,
                            "left": max(0, campaign.dev_budget - agent.dev_evals_used)},
        "submissions": {"budget": campaign.submit_budget, "used": agent.submissions_used,
                        "left": max(0, campaign.submit_budget - agent.submissions_used)},
        "usd": {"budget": campaign.agent_usd_budget, "used": round(agent.cost_usd, 4),
                "left": round(_left(campaign.agent_usd_budget, agent.cost_usd), 4)},
        "tokens": {"budget": campaign.agent_token_budget, "used": tokens,
                   "left": int(_left(campaign.agent_token_budget, tokens))},
        "compute_s": {"budget": campaign.agent_compute_s_budget, "used": round(agent.compute_s, 1),
                      "left": round(_left(campaign.agent_compute_s_budget, agent.compute_s), 1)},
        "verification_seeds": len(campaign.verify_seeds),
    }
