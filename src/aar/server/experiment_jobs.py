"""The experiment queue: agents' experiments, claimed, leased and finished by the verification workers.

The same leased queue as submissions (:mod:`aar.server.lease_queue`): a conditional UPDATE claims a queued
row (two workers never run the same one), a heartbeat renews its lease, an expired lease puts it back in the
queue (up to ``MAX_ATTEMPTS``), and the outcome, the agent's compute charge and the final status commit in
one transaction guarded by the lease. An agent may have ``MAX_ACTIVE`` experiments queued or running at once,
so one agent cannot fill the queue.

Fair scheduling: a worker claims the oldest queued experiment of an agent that has *none running*, so one
agent holds at most one worker, and another agent's experiment never waits behind it beyond the one it runs.
The bound: with W workers, an agent's queued experiment starts as soon as a worker is free of other agents'
single running experiments, at the latest one experiment time limit after it was queued when all W are busy
(measured before: an agent's two sleeping experiments held both workers and delayed another agent's 2 s
experiment to 85 s). Verification queues behind experiments (a researcher waits on each experiment) and so
waits at most one experiment time limit when every worker runs one.

Compute: an experiment's time limit is the smaller of the campaign's limit and what is left of the agent's
compute budget when it starts (less the seconds its preparation took), and the agent is charged the seconds
it ran when it ends, so a budget is overdrawn by at most the run's start-up and teardown (about a second);
the server refuses new experiments once the budget is spent. One running experiment per agent is what keeps
two of them from each spending the same remainder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import exists, select, update
from sqlalchemy.orm import aliased, sessionmaker

from aar.execution.experiment import ExperimentFailed, ExperimentRunner
from aar.results.api import ExperimentResult, ExperimentSeconds
from aar.results.lifecycle import ExperimentStatus
from aar.server.lease_queue import LeaseLost, LeaseQueue, QueueStates
from aar.server.models import Agent, Campaign, Experiment, Snapshot

log = logging.getLogger("aar.worker")
MAX_ACTIVE = 2  # queued or running experiments per agent
QUEUED, RUNNING, DONE, FAILED = (ExperimentStatus.QUEUED, ExperimentStatus.RUNNING, ExperimentStatus.DONE,
                                 ExperimentStatus.FAILED)
ACTIVE = (QUEUED, RUNNING)
ERROR_CHARS = 4000
MIN_RUN_S = 1.0  # an experiment started with less compute left than this still gets one second


def _agent_idle(model) -> tuple:
    """The claim condition of fair scheduling: no experiment of the same agent is running."""
    running = aliased(model)
    return (~exists().where(running.agent_id == model.agent_id, running.status == RUNNING),)


STATES = QueueStates(QUEUED, RUNNING, FAILED, on_claim={"progress": "claimed by a worker"},
                     on_requeue={"progress": "re-queued"}, claimable=_agent_idle)


class ExperimentJobs(LeaseQueue):
    def __init__(self, sessions: sessionmaker, worker: str, lease_s: float, runner: ExperimentRunner):
        super().__init__(Experiment, sessions, worker, lease_s, STATES, "experiment")
        self.runner = runner

    def _progress(self, exp_id: int, text: str) -> None:
        with self.sessions() as s:
            s.execute(update(Experiment).where(Experiment.id == exp_id, Experiment.worker == self.worker)
                      .values(progress=text[:200]))
            s.commit()

    def process(self, exp_id: int, check: Callable[[], None]) -> str:
        """Run one claimed experiment; ``check`` raises when the lease was lost (the child is then killed)."""
        with self.sessions() as s:
            exp = s.get(Experiment, exp_id)
            assert exp is not None
            campaign = s.get(Campaign, exp.campaign_id)
            assert campaign is not None
            snapshot = s.get(Snapshot, exp.snapshot_sha256).data if exp.snapshot_sha256 else None
            task, entry, params, seeds = exp.task, exp.entry, dict(exp.params), list(exp.seeds)
            agent = s.get(Agent, exp.agent_id)
            assert agent is not None
            left = float(campaign.agent_compute_s_budget) - float(agent.compute_s)
            timeout = max(MIN_RUN_S, min(float(campaign.verify_timeout_s), left))
            identity = f"agent:{exp.campaign_id}:{exp.agent_id}"  # its own uid: process and memory limits
        try:
            ran = self.runner.run(task, entry, params, seeds, snapshot, timeout, check,
                                  lambda text: self._progress(exp_id, text), identity=identity)
        except ExperimentFailed as exc:
            return self._finish(exp_id, FAILED, exc.seconds, error=str(exc)[:ERROR_CHARS], output=exc.output,
                                result=ExperimentResult(audit=exc.audit))  # what it tried counts when it failed
        except LeaseLost:
            raise
        except Exception as exc:  # a bug of ours, or a task the testbed cannot build: never leave it running
            log.exception("experiment %d crashed", exp_id)
            return self._finish(exp_id, FAILED, 0.0, error=f"internal error while running the experiment "
                                                           f"({type(exc).__name__})")
        check()
        result = ExperimentResult(dev_ids=ran.dev_ids, per_seed={str(seed): p for seed, p in ran.per_seed.items()},
                                  seconds=ExperimentSeconds(prepare=ran.prepare_s, run=ran.run_s),
                                  executed_on=ran.executed_on, audit=ran.audit, signals=ran.signals,
                                  audit_problem=ran.audit_problem)
        return self._finish(exp_id, DONE, ran.prepare_s + ran.run_s, output=ran.output, result=result)

    def _finish(self, exp_id: int, status: str, seconds: float, error: str | None = None, output: str = "",
                result: ExperimentResult | None = None) -> str:
        seconds = round(max(0.0, seconds), 3)
        with self.sessions() as s:
            self.finish(s, exp_id, status, error=error, output=output,
                        result=None if result is None else result.model_dump(mode="json"), compute_s=seconds,
                        progress="finished" if status == DONE else "failed")
            agent_id = s.scalar(select(Experiment.agent_id).where(Experiment.id == exp_id))
            s.execute(update(Agent).where(Agent.id == agent_id).values(compute_s=Agent.compute_s + seconds))
            s.commit()
        log.info("experiment %d %s (%.1f s)", exp_id, status, seconds)
        return status
