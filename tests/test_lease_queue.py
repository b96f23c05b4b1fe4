"""The leased job queue both submissions and experiments use, on a real SQLite database with the real tables:
one claimant per row, a lease only its holder renews or finishes, and a bounded number of re-tries."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from aar.server.db import make_engine, session_factory, upgrade
from aar.server.experiment_jobs import STATES, ExperimentJobs
from aar.server.lease_queue import MAX_ATTEMPTS, LeaseLost
from aar.server.models import Agent, Campaign, Experiment, utcnow


def _queue(tmp_path: Path, jobs: int, agents: int = 1):
    """``jobs`` queued experiments, the i-th of agent i mod ``agents``."""
    url = f"sqlite:///{tmp_path / 'q.db'}"
    upgrade(url)
    sessions = session_factory(make_engine(url))
    with sessions() as s:
        campaign = Campaign(name="q")
        s.add(campaign)
        s.flush()
        owners = [Agent(campaign_id=campaign.id, name=f"a{i}", token_sha256=f"{i:064d}") for i in range(agents)]
        s.add_all(owners)
        s.flush()
        s.add_all(Experiment(campaign_id=campaign.id, agent_id=owners[j % agents].id, number=j + 1,
                             task="t", entry="vanilla",
                             params={}, seeds=[0], status=STATES.queued, attempts=0, compute_s=0.0)
                  for j in range(jobs))
        s.commit()
    return sessions


def _expire(sessions, job_id: int) -> None:
    with sessions() as s:
        s.execute(update(Experiment).where(Experiment.id == job_id).values(lease_until=utcnow() - timedelta(seconds=1)))
        s.commit()


def test_each_row_has_one_holder_and_only_the_holder_renews_or_finishes(tmp_path: Path) -> None:
    sessions = _queue(tmp_path, 2, agents=2)
    first, second = (ExperimentJobs(sessions, f"elsewhere:{i}", 30, None) for i in (1, 2))  # type: ignore[arg-type]
    assert (first.claim(), second.claim(), first.claim()) == (1, 2, None)  # oldest first, never shared
    assert first.renew(1) and not second.renew(1)
    with sessions() as s, pytest.raises(LeaseLost):
        second.finish(s, 1, "done")
    with sessions() as s:
        assert s.get(Experiment, 1).status == STATES.running and s.get(Experiment, 1).worker == "elsewhere:1"
    _expire(sessions, 1)  # the first worker stalled: its row goes back and the second takes it
    assert second.requeue_expired() == 1
    with sessions() as s:
        row = s.get(Experiment, 1)
        assert (row.status, row.worker, row.progress) == (STATES.queued, None, "re-queued")
    assert second.claim() == 1
    assert not first.renew(1)  # the old holder learns it lost the row ...
    with sessions() as s, pytest.raises(LeaseLost):
        first.finish(s, 1, "done")  # ... and cannot overwrite the new holder's outcome
    with sessions() as s:
        second.finish(s, 1, "done", compute_s=1.5)
        s.commit()
        row = s.get(Experiment, 1)
        assert (row.status, row.compute_s, row.lease_until, row.attempts) == ("done", 1.5, None, 2)


def test_an_agent_holds_one_worker_at_a_time(tmp_path: Path) -> None:
    """Fair scheduling: while an agent's experiment runs, its next one waits and another agent's goes first."""
    sessions = _queue(tmp_path, 3, agents=2)  # 1: agent 0, 2: agent 1, 3: agent 0
    workers = [ExperimentJobs(sessions, f"elsewhere:{i}", 30, None) for i in range(3)]  # type: ignore[arg-type]
    assert [w.claim() for w in workers] == [1, 2, None]  # experiment 3 waits for its agent's first
    with sessions() as s:
        workers[0].finish(s, 1, "done")
        s.commit()
    assert workers[2].claim() == 3


def test_a_row_interrupted_too_often_fails_with_a_reason(tmp_path: Path) -> None:
    sessions = _queue(tmp_path, 1)
    queue = ExperimentJobs(sessions, "elsewhere:1", 30, None)  # type: ignore[arg-type]
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert queue.claim() == 1
        _expire(sessions, 1)
        assert queue.requeue_expired() == 1
        with sessions() as s:
            row = s.get(Experiment, 1)
            assert row.attempts == attempt
            assert row.status == (STATES.failed if attempt == MAX_ATTEMPTS else STATES.queued)
    assert f"interrupted {MAX_ATTEMPTS} times" in row.error and queue.claim() is None
