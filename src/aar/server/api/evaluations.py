"""``POST /v1/evaluations``: budgeted, coarse dev-split scores; every call logged with its predictions.

The reply carries one number (see :mod:`aar.server.scoring` for why and how coarse), the public rule it
was made by, the task's fixed noise level (so a researcher can tell a difference from noise) and the budget
left. Decisions the agent has evaluated before (the same side of 0.5 for every item) get the earlier reply
back, free (:mod:`aar.server.eval_writer`): re-running a deterministic method spends nothing.

The request path is lean because agents call it in tight loops: an async handler (no thread hop), the
token resolved from a cache (tokens never change owner), scoring inline once a task is loaded, and the
budget and the log written by the group-commit writer (:mod:`aar.server.eval_writer`).
"""

from __future__ import annotations

import gc
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Header, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import Field, ValidationError, field_validator, model_validator
from starlette.concurrency import run_in_threadpool

from aar.errors import AarError
from aar.models.layout import task_models
from aar.results.api import DevRule, EvaluationReply, ExperimentResult, TaskInfo, TaskModels
from aar.server import vectors
from aar.server.api import Body
from aar.server.auth import TASK, agent_identity
from aar.server.eval_writer import PendingEvaluation
from aar.tasks.registry import manifest
from aar.tasks.schema import PUBLIC_SPLITS

router = APIRouter()


class EvaluationIn(Body):
    """Either ``predictions`` (one vector) or ``experiment_id`` (one of the agent's finished experiments on the
    task: every seed's dev predictions, scored per seed and averaged, as verification scores)."""

    task: str = Field(pattern=TASK)
    split: str = Field(max_length=16)
    predictions: dict[Annotated[str, Field(max_length=64)], float] | None = Field(default=None, max_length=200_000)
    experiment_id: int | None = Field(default=None, ge=1)

    @field_validator("predictions")
    @classmethod
    def _probabilities(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is None:
            return value
        if not value:
            raise ValueError("predictions must not be empty")
        if any(not (0.0 <= p <= 1.0) for p in value.values()):  # NaN fails both comparisons
            raise ValueError("every prediction must be a probability in [0, 1]")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> EvaluationIn:
        if (self.predictions is None) == (self.experiment_id is None):
            raise ValueError("give either predictions or experiment_id")
        return self


def _experiment_vectors(request: Request, agent_id: int, task: str, exp_id: int, ids: list[str]) -> np.ndarray:
    """The (seeds x items) dev predictions of one of the agent's finished experiments, in canonical order."""
    from aar.server.api.experiments import own

    with request.app.state.sessions() as session:
        exp = own(session, agent_id, exp_id)
        if exp.task != task:
            raise HTTPException(422, f"experiment {exp_id} ran on {exp.task!r}, not {task!r}")
        if exp.status != "done" or not exp.result:
            raise HTTPException(409, f"experiment {exp_id} is {exp.status}: only a finished one can be scored")
        result = ExperimentResult.model_validate(exp.result)
    position = {item: i for i, item in enumerate(result.dev_ids)}
    try:
        order = [position[i] for i in ids]
    except KeyError:
        raise HTTPException(409, f"experiment {exp_id} predicted another dev split (the task changed since)") from None
    stacked = np.array([result.per_seed[s] for s in sorted(result.per_seed, key=int)], dtype=np.float64)
    return stacked[:, order]


async def _load(scorer, task: str) -> None:
    """A task's first use loads its testbed (seconds): off the event loop."""
    if not scorer.loaded(task):
        await run_in_threadpool(scorer.canonical_order, task)
        # the testbed's imports and arrays live as long as the process: out of the collector's sight, a full
        # collection no longer walks them (it stalled every request for 100-200 ms)
        gc.freeze()


@router.get("/v1/tasks/{task}")
async def task_info(task: Annotated[str, Path(pattern=TASK)], request: Request,
                    authorization: Annotated[str | None, Header()] = None) -> TaskInfo:
    """What a researcher may know about a task before spending anything: its format, the sizes of the
    public splits, how a dev reply is made (metric, subsample, rounding, the fixed noise level), the weak and
    strong model and the column layout of the features a method gets. Nothing here depends on any prediction
    or label; a researcher's process needs no labelled copy of the task."""
    await agent_identity(request, authorization)
    scorer = request.app.state.scorer
    try:
        await _load(scorer, task)
        metric, step, items = scorer.rule(task)
        stored = await run_in_threadpool(manifest, task)
    except AarError as exc:
        raise HTTPException(422, str(exc)) from None
    weak, strong = scorer.models(task)
    return TaskInfo(
        task=task, format=stored["format"], description=stored.get("source", {}).get("description", ""),
        public_splits={split: stored["counts"][split] for split in PUBLIC_SPLITS},
        models=TaskModels.model_validate(task_models(stored["format"], weak, strong)),
        dev_rule=DevRule(metric=metric, dev_items=len(scorer.canonical_order(task)[1]), items_scored=items,
                         resolution=step, noise_sd=scorer.noise_sd(task),
                         repeats="decisions evaluated before in this campaign, by any agent, get the earlier reply "
                                 "back, free"))


# the reply names one metric: the other field is left out rather than sent as null
@router.post("/v1/evaluations", response_model=EvaluationReply, response_model_exclude_none=True,
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": EvaluationIn.model_json_schema()}}}})
async def evaluate(request: Request, authorization: Annotated[str | None, Header()] = None) -> EvaluationReply:
    agent_id, campaign_id = await agent_identity(request, authorization)
    try:  # pydantic parses and validates the JSON in one pass (a 300-item body: 0.1 ms, not 1 ms)
        body = EvaluationIn.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    if body.split != "dev":
        raise HTTPException(403, "only the dev split is scored for agents; test is scored at verification")
    scorer = request.app.state.scorer
    try:  # validate before spending
        await _load(scorer, body.task)
        order_sha256, order_ids = scorer.canonical_order(body.task)
        if body.predictions is not None:
            values = scorer.vector(body.task, body.predictions)
        else:
            assert body.experiment_id is not None
            values = await run_in_threadpool(_experiment_vectors, request, agent_id, body.task, body.experiment_id,
                                             order_ids)
        scored = scorer.score_vector(body.task, values)
    except AarError as exc:
        raise HTTPException(422, str(exc)) from None
    seeds = 1 if values.ndim == 1 else len(values)
    vector = vectors.encode(values if values.ndim == 1 else values.mean(axis=0))  # the log: the seeds' mean
    pending = PendingEvaluation(
        agent_id=agent_id, campaign_id=campaign_id, task=body.task, order_sha256=order_sha256,
        order_ids=order_ids, vector=vector, predictions_sha256=vectors.vector_sha256(order_sha256, vector),
        accuracy=scored.accuracy, pgr=scored.pgr, reported=scored.reported, request_id=request.state.request_id,
        decisions_sha256=vectors.decisions_sha256(order_sha256, values))
    outcome = await request.app.state.writer.write(pending)
    if not outcome.accepted:
        raise HTTPException(429, outcome.refusal)
    repeat = outcome.repeat_of is not None
    per_seed = (f", each of {seeds} seeds scored on its own and averaged (as verification scores)"
                if seeds > 1 else "")
    return EvaluationReply.model_validate({
        "task": body.task, "split": "dev", scored.metric: outcome.repeat_of if repeat else scored.reported,
        "rule": f"{scored.metric} on a fresh random {scored.items_scored}-item subsample of dev{per_seed}, "
                f"rounded to {scored.resolution:g}",
        "seeds": seeds, "noise_sd": scorer.noise_sd(body.task),
        "repeat": repeat,  # these decisions were evaluated before in the campaign: the earlier reply, free
        "budget_remaining": outcome.budget_remaining})
