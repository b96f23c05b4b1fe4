"""A job queue that lives in a database table, worked by leases: the one discipline submissions and
experiments share.

A worker claims the oldest queued row with a conditional UPDATE (two workers can never claim the same row)
and holds a lease on it that a heartbeat renews. A worker that dies (kill -9, OOM, a crashed server) stops
renewing; once the lease runs out, any worker puts the row back in the queue, or fails it after
``MAX_ATTEMPTS`` tries. A running row whose worker on this host is known dead goes back at once, without
waiting out its lease. The final write is guarded by the lease (:meth:`LeaseQueue.finish`): a worker that
lost its row never overwrites the outcome of the worker that took it over.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from aar.server.models import utcnow

log = logging.getLogger("aar.worker")
MAX_ATTEMPTS = 3


class LeaseLost(Exception):
    """Another worker took over this job (our lease expired), or our parent died."""


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


@dataclass(frozen=True)
class QueueStates:
    """The values a table's status column takes on the queue's three moves, and the extra columns each
    move sets (the experiment table keeps a progress line; submissions have none)."""

    queued: str
    running: str
    failed: str
    on_claim: dict[str, Any] = field(default_factory=dict)
    on_requeue: dict[str, Any] = field(default_factory=dict)
    on_fail: dict[str, Any] = field(default_factory=dict)
    # rows that may be claimed now, beyond being queued (experiments: one running per agent); a function of
    # the model class that returns SQL conditions
    claimable: Any = None


class LeaseQueue:
    """The queue of one table (``model`` has ``id``, ``status``, ``worker``, ``attempts``, ``lease_until``,
    ``started_at``, ``finished_at`` and ``error``), seen by one worker named ``host:pid``."""

    def __init__(self, model: Any, sessions: sessionmaker, worker: str, lease_s: float, states: QueueStates,
                 noun: str):
        self.model, self.sessions, self.worker, self.lease_s = model, sessions, worker, lease_s
        self.states, self.noun = states, noun

    def requeue_expired(self) -> int:
        """Give expired leases back to the queue (or fail them after ``MAX_ATTEMPTS``); returns rows touched."""
        m, st = self.model, self.states
        with self.sessions() as s:
            workers = s.scalars(select(m.worker).where(m.status == st.running).distinct()).all()
            dead = dead_local_workers(list(workers))
            gone = or_(m.lease_until < utcnow(), m.worker.in_(dead)) if dead else m.lease_until < utcnow()
            failed = s.execute(update(m).where(m.status == st.running, gone, m.attempts >= MAX_ATTEMPTS)
                               .values(status=st.failed, finished_at=utcnow(), lease_until=None,
                                       error=f"the {self.noun} was interrupted {MAX_ATTEMPTS} times",
                                       **st.on_fail)).rowcount
            queued = s.execute(update(m).where(m.status == st.running, gone)
                               .values(status=st.queued, worker=None, lease_until=None, **st.on_requeue)).rowcount
            s.commit()
        if failed or queued:
            log.warning("re-queued %d interrupted %s(s), failed %d", queued, self.noun, failed)
        return failed + queued

    def claim(self) -> int | None:
        """The id of the oldest queued row, now running under this worker's lease; None when the queue is
        empty (or every candidate was taken by another worker first)."""
        m, st = self.model, self.states
        extra = st.claimable(m) if st.claimable is not None else ()
        with self.sessions() as s:
            for job_id in s.scalars(select(m.id).where(m.status == st.queued, *extra).order_by(m.id).limit(5)):
                won = s.execute(update(m).where(m.id == job_id, m.status == st.queued, *extra)
                                .values(status=st.running, worker=self.worker, attempts=m.attempts + 1,
                                        started_at=utcnow(), lease_until=utcnow() + timedelta(seconds=self.lease_s),
                                        **st.on_claim))
                s.commit()
                if won.rowcount == 1:
                    return job_id
        return None

    def held(self, job_id: int) -> tuple:
        """The condition that this worker still holds ``job_id``."""
        return self.model.id == job_id, self.model.worker == self.worker, self.model.status == self.states.running

    def renew(self, job_id: int) -> bool:
        with self.sessions() as s:
            kept = s.execute(update(self.model).where(*self.held(job_id))
                             .values(lease_until=utcnow() + timedelta(seconds=self.lease_s))).rowcount
            s.commit()
        return kept == 1

    def finish(self, s: Session, job_id: int, status: str, **values: Any) -> None:
        """Write the final status and ``values`` in ``s`` (the caller commits, with whatever else belongs to
        the outcome); LeaseLost, rolled back, when another worker holds the row now: its outcome wins. A move to
        the failed status also sets ``on_fail``, as the sweep's failures do."""
        extra = self.states.on_fail if status == self.states.failed else {}
        owned = cast(CursorResult, s.execute(update(self.model).where(*self.held(job_id)).values(
            status=status, finished_at=utcnow(), lease_until=None, **extra, **values))).rowcount
        if owned != 1:
            s.rollback()
            raise LeaseLost()
