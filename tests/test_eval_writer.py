"""The group-commit writer on a real SQLite database: budgets exact under many threads, batches really form,
and a request abandoned before its batch began is neither written nor charged."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from aar.server.db import make_engine, session_factory, upgrade
from aar.server.eval_writer import EvaluationWriter, PendingEvaluation
from aar.server.models import Agent, Campaign, Evaluation
from aar.server.vectors import VectorReader, encode, order_sha256, vector_sha256

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


def _pending(agent_id: int, campaign_id: int, values: np.ndarray) -> PendingEvaluation:
    order = order_sha256(IDS)
    vector = encode(values)
    return PendingEvaluation(agent_id, campaign_id, "chat", order, IDS, vector, vector_sha256(order, vector),
                             0.7, 0.2, 0.2, "req")


def test_budgets_are_exact_under_32_threads_and_batches_form(tmp_path: Path) -> None:
    _, engine, campaign_id, agent_ids = _setup(tmp_path, agents=8, dev_budget=30, campaign_budget=200)
    writer = EvaluationWriter(engine)
    rng = np.random.default_rng(0)
    vectors = [rng.random(len(IDS)) for _ in range(400)]

    def one(i: int):
        return writer.submit(_pending(agent_ids[i % 8], campaign_id, vectors[i])).result(timeout=60)

    with ThreadPoolExecutor(max_workers=32) as pool:
        outcomes = list(pool.map(one, range(400)))
    writer.close()
    accepted = [i for i, o in enumerate(outcomes) if o.accepted]
    assert len(accepted) == 200  # 8 agents x 30 = 240 > 200: the campaign budget binds, exactly
    assert writer.batches < 400  # requests shared commits
    refusals = {o.refusal for o in outcomes if not o.accepted}
    assert refusals <= {"the campaign's dev evaluation budget of 200 is used up",
                        "dev evaluation budget of 30 is used up"}
    with session_factory(engine)() as session:
        used = dict(session.execute(select(Agent.id, Agent.dev_evals_used)).all())
        assert sum(used.values()) == 200 and max(used.values()) <= 30
        assert session.get(Campaign, campaign_id).dev_evals_used == 200
        assert session.scalar(select(func.count()).select_from(Evaluation)) == 200
        reader = VectorReader(session)
        logged = sorted(tuple(reader.predictions(e).values()) for e in session.scalars(select(Evaluation)))
    assert logged == sorted(tuple(vectors[i].tolist()) for i in accepted)  # exact float64 round trip
    engine.dispose()


def test_a_request_abandoned_before_its_batch_is_not_written_or_charged(tmp_path: Path) -> None:
    url, engine, campaign_id, agent_ids = _setup(tmp_path, agents=1, dev_budget=10, campaign_budget=10)
    writer = EvaluationWriter(engine)
    blocker = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # hold the write lock: the writer's first batch waits for it
    first = writer.submit(_pending(agent_ids[0], campaign_id, np.full(len(IDS), 0.1)))
    deadline = time.time() + 10
    while writer.queue.qsize() and time.time() < deadline:  # the writer has taken the first one
        time.sleep(0.01)
    second = writer.submit(_pending(agent_ids[0], campaign_id, np.full(len(IDS), 0.2)))
    assert second.cancel()  # its client went away while it waited in the queue
    third = writer.submit(_pending(agent_ids[0], campaign_id, np.full(len(IDS), 0.3)))
    threading.Timer(0.3, blocker.rollback).start()
    assert first.result(timeout=60).accepted and third.result(timeout=60).accepted
    writer.close()
    blocker.close()
    with session_factory(engine)() as session:
        reader = VectorReader(session)
        rows = session.scalars(select(Evaluation).order_by(Evaluation.id))
        logged = [set(reader.predictions(e).values()) for e in rows]
        assert logged == [{0.1}, {0.3}]
        assert session.get(Agent, agent_ids[0]).dev_evals_used == 2
        assert session.get(Campaign, campaign_id).dev_evals_used == 2
    engine.dispose()
