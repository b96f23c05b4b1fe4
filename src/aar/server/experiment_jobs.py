"""The experiment queue: agents' experiments, claimed, leased and finished by the verification workers.

The same discipline as submissions (:mod:`aar.server.worker`): a conditional UPDATE claims a queued row (two
workers never run the same one), a heartbeat renews its lease, an expired lease puts it back in the queue
(up to ``MAX_ATTEMPTS``), and the outcome, the agent's compute charge and the final status commit in one
transaction guarded by the lease. An agent may have ``MAX_ACTIVE`` experiments queued or running at once,
so one agent cannot fill the queue; compute is charged to the agent when an experiment ends, and the server
refuses new experiments once the agent's compute budget is spent.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import sessionmaker

from aar.execution.experiment import ExperimentFailed, ExperimentRunner
from aar.server.models import Agent, Campaign, Experiment, Snapshot

log = logging.getLogger("aar.worker")
MAX_ATTEMPTS = 3
MAX_ACTIVE = 2  # queued or running experiments per agent
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
ACTIVE = (QUEUED, RUNNING)
ERROR_CHARS = 4000


class LeaseLost(Exception):
    """Another worker took over this job (our lease expired), or our parent died."""


def now() -> datetime:
    return datetime.now(UTC)


def dead_local_workers(names: list[str | None]) -> list[str]:
    """Workers (``host:pid``) of this host whose process is gone: their rows need not wait out the lease (a
    campaign resumed after a kill -9 would otherwise wait up to a lease for each orphaned job). A pid reused
    by another process looks alive, and that row waits for its lease as before."""
    host, dead = socket.gethostname()[:40], []
    for name in {n for n in names if n}:
        owner, _, pid = name.rpartition(":")
        if owner != host or not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            dead.append(name)
        except PermissionError:  # alive, someone else's
            continue
    return dead


def orphaned(model, sessions: sessionmaker):
    """The condition for a running row to go back to the queue: its lease ran out, or its worker on this host
    died."""
    with sessions() as s:
        workers = s.scalars(select(model.worker).where(model.status == RUNNING).distinct()).all()
    dead = dead_local_workers(list(workers))
    return or_(model.lease_until < now(), model.worker.in_(dead)) if dead else model.lease_until < now()


class ExperimentJobs:
    def __init__(self, sessions: sessionmaker, worker: str, lease_s: float, runner: ExperimentRunner):
        self.sessions, self.worker, self.lease_s, self.runner = sessions, worker, lease_s, runner

    def requeue_expired(self) -> int:
        gone = orphaned(Experiment, self.sessions)
        with self.sessions() as s:
            failed = s.execute(update(Experiment).where(
                Experiment.status == RUNNING, gone, Experiment.attempts >= MAX_ATTEMPTS)
                .values(status=FAILED, finished_at=now(), lease_until=None,
                        error=f"the experiment was interrupted {MAX_ATTEMPTS} times")).rowcount
            queued = s.execute(update(Experiment).where(Experiment.status == RUNNING, gone)
                               .values(status=QUEUED, worker=None, lease_until=None, progress="re-queued")).rowcount
            s.commit()
        if failed or queued:
            log.warning("re-queued %d interrupted experiment(s), failed %d", queued, failed)
        return failed + queued

    def claim(self) -> int | None:
        with self.sessions() as s:
            for exp_id in s.scalars(select(Experiment.id).where(Experiment.status == QUEUED)
                                    .order_by(Experiment.id).limit(5)):
                won = s.execute(update(Experiment).where(Experiment.id == exp_id, Experiment.status == QUEUED)
                                .values(status=RUNNING, worker=self.worker, attempts=Experiment.attempts + 1,
                                        started_at=now(), progress="claimed by a worker",
                                        lease_until=now() + timedelta(seconds=self.lease_s)))
                s.commit()
                if won.rowcount == 1:
                    return exp_id
        return None

    def renew(self, exp_id: int) -> bool:
        with self.sessions() as s:
            kept = s.execute(update(Experiment).where(Experiment.id == exp_id, Experiment.worker == self.worker,
                                                      Experiment.status == RUNNING)
                             .values(lease_until=now() + timedelta(seconds=self.lease_s))).rowcount
            s.commit()
        return kept == 1

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
            timeout = float(campaign.verify_timeout_s)
        try:
            ran = self.runner.run(task, entry, params, seeds, snapshot, timeout, check,
                                  lambda text: self._progress(exp_id, text))
        except ExperimentFailed as exc:
            return self._finish(exp_id, FAILED, exc.seconds, error=str(exc)[:ERROR_CHARS], output=exc.output,
                                result={"audit": exc.audit})  # what it tried counts even when it failed
        except LeaseLost:
            raise
        except Exception as exc:  # a bug of ours, or a task the testbed cannot build: never leave it running
            log.exception("experiment %d crashed", exp_id)
            return self._finish(exp_id, FAILED, 0.0, error=f"internal error while running the experiment "
                                                           f"({type(exc).__name__})")
        check()
        result = {"dev_ids": ran.dev_ids, "per_seed": {str(seed): p for seed, p in ran.per_seed.items()},
                  "seconds": {"prepare": ran.prepare_s, "run": ran.run_s}, "executed_on": ran.executed_on,
                  "audit": ran.audit, "signals": ran.signals,
                  **({"audit_problem": ran.audit_problem} if ran.audit_problem else {})}
        return self._finish(exp_id, DONE, ran.prepare_s + ran.run_s, output=ran.output, result=result)

    def _finish(self, exp_id: int, status: str, seconds: float, error: str | None = None, output: str = "",
                result: dict | None = None) -> str:
        seconds = round(max(0.0, seconds), 3)
        with self.sessions() as s:
            owned = s.execute(update(Experiment).where(Experiment.id == exp_id, Experiment.worker == self.worker,
                                                       Experiment.status == RUNNING)
                              .values(status=status, finished_at=now(), lease_until=None, error=error,
                                      output=output, result=result, compute_s=seconds,
                                      progress="finished" if status == DONE else "failed")).rowcount
            if owned != 1:  # our lease expired and another worker has it: its outcome wins
                s.rollback()
                raise LeaseLost()
            agent_id = s.scalar(select(Experiment.agent_id).where(Experiment.id == exp_id))
            s.execute(update(Agent).where(Agent.id == agent_id).values(compute_s=Agent.compute_s + seconds))
            s.commit()
        log.info("experiment %d %s (%.1f s)", exp_id, status, seconds)
        return status
