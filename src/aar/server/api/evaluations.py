"""``POST /v1/evaluations``: budgeted, coarse dev-split scores; every call logged with its predictions.

The reply carries one number (see :mod:`aar.server.scoring` for why and how coarse), the public rule it
was made by, and the budget left.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import Field, field_validator
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from aar.errors import AarError
from aar.fsio import sha256_json
from aar.server.api import Body
from aar.server.auth import TASK, current_agent, db
from aar.server.models import Agent, Campaign, Evaluation

router = APIRouter()


class EvaluationIn(Body):
    task: str = Field(pattern=TASK)
    split: str = Field(max_length=16)
    predictions: dict[Annotated[str, Field(max_length=64)], float] = Field(max_length=200_000)

    @field_validator("predictions")
    @classmethod
    def _probabilities(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            raise ValueError("predictions must not be empty")
        if any(not (0.0 <= p <= 1.0) for p in value.values()):  # NaN fails both comparisons
            raise ValueError("every prediction must be a probability in [0, 1]")
        return value


@router.post("/v1/evaluations")
def evaluate(body: EvaluationIn, request: Request, me: Agent = Depends(current_agent),
             session: Session = Depends(db)) -> dict:
    if body.split != "dev":
        raise HTTPException(403, "only the dev split is scored for agents; test is scored at verification")
    try:
        scored = request.app.state.scorer.score(body.task, body.predictions)  # validate before spending
    except AarError as exc:
        raise HTTPException(422, str(exc)) from None
    # The campaign row lock (PostgreSQL; SQLite serializes writers anyway) makes the campaign-wide budget
    # check and the increment one step, so concurrent agents can never exceed either budget.
    campaign = session.scalar(select(Campaign).where(Campaign.id == me.campaign_id).with_for_update())
    assert campaign is not None
    campaign_used = (select(func.coalesce(func.sum(Agent.dev_evals_used), 0))
                     .where(Agent.campaign_id == campaign.id).scalar_subquery())
    spent = session.execute(update(Agent).where(Agent.id == me.id, Agent.dev_evals_used < campaign.dev_budget,
                                                campaign_used < campaign.campaign_dev_budget)
                            .values(dev_evals_used=Agent.dev_evals_used + 1))
    if spent.rowcount != 1:
        session.rollback()
        mine = session.scalar(select(Agent.dev_evals_used).where(Agent.id == me.id)) or 0
        if mine >= campaign.dev_budget:
            raise HTTPException(429, f"dev evaluation budget of {campaign.dev_budget} is used up")
        raise HTTPException(429, f"the campaign's dev evaluation budget of {campaign.campaign_dev_budget} is used up")
    session.add(Evaluation(agent_id=me.id, campaign_id=campaign.id, task=body.task, split=body.split,
                           predictions_sha256=sha256_json(body.predictions), predictions=body.predictions,
                           accuracy=scored.accuracy, pgr=scored.pgr, reported=scored.reported,
                           request_id=request.state.request_id))
    session.commit()
    used = session.scalar(select(Agent.dev_evals_used).where(Agent.id == me.id))
    return {"task": body.task, "split": "dev", scored.metric: scored.reported,
            "rule": f"{scored.metric} on a fresh random {scored.items_scored}-item subsample of dev, rounded to "
                    f"{scored.resolution:g}",
            "budget_remaining": campaign.dev_budget - int(used or 0)}
