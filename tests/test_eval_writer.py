"""The group-commit writer on a real SQLite database: budgets exact when hundreds of requests race, batches
really form, refusals name the budget that ran out, and a request abandoned before its batch began is neither
written nor charged."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from aar.server.db import make_engine, session_factory, upgrade
from aar.server.eval_writer import EvaluationWriter, PendingEvaluation
from aar.server.models import Agent, Campaign, Evaluation
from aar.server.vectors import VectorReader, decisions_sha256, encode, order_sha256, vector_sha256

IDS = [f"item{i:03d}" for i in range(50)]


def _setup(tmp_path: Path, agents: int, dev_budget: int, campaign_budget: int):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        campaign = Campaign(name="w", dev_budget=dev_budget, campaign_dev_budget=campaign_budget)
        session.add(campaign)
        session.flush()
        rows = [Agent(campaign_id=campaign.id, name=f"a{i}", token_sha256=f"{i:064d}") for i in range(agents)]
        session.add_all(rows)
        session.commit()
        return url, engine, campaign.id, [a.id for a in rows]


def _pending(agent_id: int, campaign_id: int, values: np.ndarray, reported: float = 0.2) -> PendingEvaluation:
    order = order_sha256(IDS)
    vector = encode(values)
    return PendingEvaluation(agent_id, campaign_id, "chat", order, IDS, vector, vector_sha256(order, vector),
                             0.7, 0.2, reported, "req", decisions_sha256(order, values))


def test_budgets_are_exact_when_400_requests_race_and_batches_form(tmp_path: Path) -> None:
    _, engine, campaign_id, agent_ids = _setup(tmp_path, agents=8, dev_budget=30, campaign_budget=200)
    writer = EvaluationWriter(engine)
    rng = np.random.default_rng(0)
    vectors = [rng.random(len(IDS)) for _ in range(400)]

    async def race():
        return await asyncio.gather(*(writer.write(_pending(agent_ids[i % 8], campaign_id, vectors[i]))
                                      for i in range(400)))

    outcomes = asyncio.run(race())
    accepted = [i for i, o in enumerate(outcomes) if o.accepted]
    assert accepted == list(range(200))  # 8 agents x 30 = 240 > 200: the campaign budget binds, in arrival order
    assert writer.batches < 10  # requests shared commits
    refusals = {o.refusal for o in outcomes if not o.accepted}
    assert refusals == {"the campaign's dev evaluation budget of 200 is used up"}
    with session_factory(engine)() as session:
        used = dict(session.execute(select(Agent.id, Agent.dev_evals_used)).all())
        assert sum(used.values()) == 200 and max(used.values()) <= 30
        assert session.get(Campaign, campaign_id).dev_evals_used == 200
        assert session.scalar(select(func.count()).select_from(Evaluation)) == 200
        reader = VectorReader(session)
        logged = sorted(tuple(reader.predictions(e).values()) for e in session.scalars(select(Evaluation)))
    assert logged == sorted(tuple(vectors[i].tolist()) for i in accepted)  # exact float64 round trip
    engine.dispose()


def test_an_agent_budget_refuses_with_its_own_message(tmp_path: Path) -> None:
    _, engine, campaign_id, agent_ids = _setup(tmp_path, agents=1, dev_budget=3, campaign_budget=100)
    writer = EvaluationWriter(engine)

    async def five():  # five different decision vectors (one item flipped each): five real queries
        return await asyncio.gather(*(writer.write(_pending(agent_ids[0], campaign_id,
                                                            (np.arange(len(IDS)) == i).astype(float)))
                                      for i in range(5)))

    outcomes = asyncio.run(five())
    assert [o.accepted for o in outcomes] == [True, True, True, False, False]
    assert [o.budget_remaining for o in outcomes[:3]] == [2, 1, 0]
    assert {o.refusal for o in outcomes[3:]} == {"dev evaluation budget of 3 is used up"}
    engine.dispose()


def test_a_request_abandoned_before_its_batch_is_not_written_or_charged(tmp_path: Path) -> None:
    url, engine, campaign_id, agent_ids = _setup(tmp_path, agents=1, dev_budget=10, campaign_budget=10)
    writer = EvaluationWriter(engine)
    blocker = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # hold the write lock: the writer's first batch waits for it

    async def scenario():
        first = asyncio.create_task(writer.write(_pending(agent_ids[0], campaign_id, np.full(len(IDS), 0.1))))
        await asyncio.sleep(0.2)  # the first batch is in flight, blocked on the lock
        second = asyncio.create_task(writer.write(_pending(agent_ids[0], campaign_id, np.full(len(IDS), 0.2))))
        third = asyncio.create_task(writer.write(_pending(agent_ids[0], campaign_id, np.full(len(IDS), 0.7))))
        await asyncio.sleep(0.05)
        second.cancel()  # its client went away while it waited for the next batch
        threading.Timer(0.3, blocker.rollback).start()
        return await first, await third

    first, third = asyncio.run(scenario())
    assert first.accepted and third.accepted
    blocker.close()
    with session_factory(engine)() as session:
        reader = VectorReader(session)
        rows = session.scalars(select(Evaluation).order_by(Evaluation.id))
        logged = [set(reader.predictions(e).values()) for e in rows]
        assert logged == [{0.1}, {0.7}]
        assert session.get(Agent, agent_ids[0]).dev_evals_used == 2
        assert session.get(Campaign, campaign_id).dev_evals_used == 2
    engine.dispose()


def test_a_repeat_of_the_same_decisions_is_answered_again_for_free(tmp_path: Path) -> None:
    """Probabilities that fall on the same side of 0.5 everywhere are the same query: the agent gets its first
    reply back, spends nothing and nothing is logged; in the same batch, in a later one, and after its budget
    ran out. Another agent of the same campaign asking the same decisions gets the same reply, free (one noise
    draw per vector per campaign: colluders cannot average fresh draws); one flipped item is a new query."""
    _, engine, campaign_id, (me, other) = _setup(tmp_path, agents=2, dev_budget=2, campaign_budget=100)
    writer = EvaluationWriter(engine)
    base = np.linspace(0.01, 0.99, len(IDS))
    nudged = np.clip(base + 0.004, 0, 1)  # no item crosses 0.5 (the grid steps by 0.02, none within 0.004)
    flipped = base.copy()
    flipped[0] = 0.9

    async def first_batch():
        return await asyncio.gather(writer.write(_pending(me, campaign_id, base, reported=0.35)),
                                    writer.write(_pending(me, campaign_id, nudged, reported=0.6)))

    async def one(agent: int, values: np.ndarray, reported: float):
        return await writer.write(_pending(agent, campaign_id, values, reported))

    fresh, same_batch = asyncio.run(first_batch())
    assert (fresh.accepted, fresh.repeat_of, fresh.budget_remaining) == (True, None, 1)
    assert (same_batch.accepted, same_batch.repeat_of, same_batch.budget_remaining) == (True, 0.35, 1)
    later = asyncio.run(one(me, nudged, 0.1))
    assert (later.repeat_of, later.budget_remaining) == (0.35, 1)
    new = asyncio.run(one(me, flipped, 0.45))
    assert (new.accepted, new.repeat_of, new.budget_remaining) == (True, None, 0)
    spent = asyncio.run(one(me, np.clip(flipped - 0.001, 0, 1), 0.9))  # the budget is used up: still answered
    assert (spent.accepted, spent.repeat_of) == (True, 0.45)
    assert not asyncio.run(one(me, 1 - base, 0.2)).accepted  # new decisions over budget: refused
    theirs = asyncio.run(one(other, base, 0.25))
    assert (theirs.repeat_of, theirs.budget_remaining) == (0.35, 2)
    own = asyncio.run(one(other, 1 - base, 0.25))
    assert (own.repeat_of, own.budget_remaining) == (None, 1)
    with session_factory(engine)() as session:
        assert session.get(Agent, me).dev_evals_used == 2 and session.get(Agent, other).dev_evals_used == 1
        assert session.get(Campaign, campaign_id).dev_evals_used == 3
        assert session.scalars(select(Evaluation.reported).order_by(Evaluation.id)).all() == [0.35, 0.45, 0.25]
    engine.dispose()
