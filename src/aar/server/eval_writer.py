"""Group commit for dev evaluations: one writer thread spends budgets and logs evaluations in batches.

Every evaluation changes three things in one transaction: the campaign's counter, the agent's counter (neither
may pass its budget) and the log row. Committing each request on its own made requests queue for the
database lock and for pool connections (at 32 clients, 59% of request time was spent waiting for a
connection; SQLite writers retried with sleeps of up to 100 ms). Here request handlers hand their scored
evaluation to one writer and wait on a future. The writer takes whatever is queued (no waiting: at one
client a batch is one request, and batches grow by themselves while a commit is in flight), locks the
batch's campaign rows, decides the budgets of the whole batch in arrival order, writes the counters and the
accepted rows with one ``executemany`` each and commits once; then every waiting request gets its own
outcome. Budgets stay exact: counters are read and written only under the campaign rows' lock (SQLite's
write lock), and a request is answered only after its batch committed, so an answered evaluation is never
lost (a kill before the commit loses only unanswered ones). On PostgreSQL the campaign row is locked only
for the length of one batch, not for a whole request.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from aar.server.models import Agent, Campaign, Evaluation, ItemOrder, utcnow

log = logging.getLogger("aar.server.writer")
MAX_BATCH = 128


@dataclass
class PendingEvaluation:
    agent_id: int
    campaign_id: int
    task: str
    order_sha256: str
    order_ids: list[str]
    vector: bytes
    predictions_sha256: str
    accuracy: float
    pgr: float | None
    reported: float | None
    request_id: str
    future: Future = field(default_factory=Future)


@dataclass(frozen=True)
class Outcome:
    accepted: bool
    budget_remaining: int
    refusal: str = ""  # why it was refused (a budget is used up)


_STOP = object()


class EvaluationWriter:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.known_orders: set[str] = set()
        self._thread: threading.Thread | None = None
        self._inserted: set[str] = set()  # item orders inserted by the transaction in progress
        self._lock = threading.Lock()
        self.batches = 0  # counters for tests and the benchmark
        self.written = 0

    def submit(self, pending: PendingEvaluation) -> Future:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="aar-eval-writer", daemon=True)
                self._thread.start()
        self.queue.put(pending)
        return pending.future

    def close(self, timeout_s: float = 30.0) -> None:
        """Write what is queued, then stop."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self.queue.put(_STOP)
            thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is _STOP:
                return
            batch, stop = [item], False
            while len(batch) < MAX_BATCH:
                try:
                    more = self.queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                batch.append(more)
            # a request whose client went away before its batch began is dropped unwritten; from here on the
            # others cannot be cancelled, so each gets exactly its outcome
            batch = [p for p in batch if p.future.set_running_or_notify_cancel()]
            try:
                if batch:
                    self._write(batch)
            except Exception as exc:  # a bug here must not leave requests waiting forever
                log.exception("the evaluation writer failed on a batch of %d", len(batch))
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(exc)
            if stop:
                return

    def _write(self, batch: list[PendingEvaluation]) -> None:
        self._inserted: set[str] = set()
        try:
            with self.engine.begin() as conn:
                outcomes = self._apply(conn, batch)
            self.known_orders |= self._inserted
        except Exception:  # one bad row must not fail its neighbours: retry one by one
            log.exception("batch of %d evaluations failed; writing them one at a time", len(batch))
            for pending in batch:
                self._inserted = set()
                try:
                    with self.engine.begin() as conn:
                        (outcome,) = self._apply(conn, [pending])
                    self.known_orders |= self._inserted
                except Exception as exc:  # reported to that request only
                    pending.future.set_exception(exc)
                else:
                    pending.future.set_result(outcome)
            return
        self.batches += 1
        self.written += sum(o.accepted for o in outcomes)
        for pending, outcome in zip(batch, outcomes, strict=True):
            pending.future.set_result(outcome)

    def _apply(self, conn: Connection, batch: list[PendingEvaluation]) -> list[Outcome]:
        """Budgets of the whole batch in a few statements. A no-op update of the batch's campaign rows comes
        first: it takes SQLite's write lock (no reader-to-writer upgrade, so no busy retries) and, on
        PostgreSQL, the campaign rows' locks, so the counters read next cannot change before this commits
        (another server process evaluating for the same campaign waits for one batch, not one request)."""
        campaign_ids = sorted({p.campaign_id for p in batch})
        agent_ids = sorted({p.agent_id for p in batch})
        conn.execute(update(Campaign).where(Campaign.id.in_(campaign_ids))
                     .values(dev_evals_used=Campaign.dev_evals_used))
        campaigns = {row.id: [row.dev_evals_used, row.dev_budget, row.campaign_dev_budget] for row in conn.execute(
            select(Campaign.id, Campaign.dev_evals_used, Campaign.dev_budget, Campaign.campaign_dev_budget)
            .where(Campaign.id.in_(campaign_ids)))}
        agents = dict(conn.execute(select(Agent.id, Agent.dev_evals_used).where(Agent.id.in_(agent_ids))).all())
        outcomes, rows = [], []
        for p in batch:  # arrival order: the first requests get the last budget
            used, dev_budget, campaign_budget = campaigns[p.campaign_id]
            mine = agents[p.agent_id]
            if mine >= dev_budget:
                outcomes.append(Outcome(False, 0, f"dev evaluation budget of {dev_budget} is used up"))
                continue
            if used >= campaign_budget:
                outcomes.append(Outcome(False, dev_budget - mine,
                                        f"the campaign's dev evaluation budget of {campaign_budget} is used up"))
                continue
            campaigns[p.campaign_id][0] = used + 1
            agents[p.agent_id] = mine + 1
            outcomes.append(Outcome(True, dev_budget - mine - 1))
            rows.append({"agent_id": p.agent_id, "campaign_id": p.campaign_id, "created_at": utcnow(),
                         "task": p.task, "split": "dev", "predictions_sha256": p.predictions_sha256,
                         "predictions": None, "item_order": p.order_sha256, "vector": p.vector,
                         "accuracy": p.accuracy, "pgr": p.pgr, "reported": p.reported, "request_id": p.request_id})
        if rows:
            touched = {p.agent_id for p, o in zip(batch, outcomes, strict=True) if o.accepted}
            conn.execute(update(Agent).where(Agent.id == bindparam("agent")).values(dev_evals_used=bindparam("used")),
                         [{"agent": a, "used": agents[a]} for a in sorted(touched)])
            conn.execute(update(Campaign).where(Campaign.id == bindparam("campaign"))
                         .values(dev_evals_used=bindparam("used")),
                         [{"campaign": c, "used": campaigns[c][0]} for c in campaign_ids])
            self._ensure_orders(conn, {p.order_sha256: p.order_ids for p in batch})
            conn.execute(insert(Evaluation), rows)
        return outcomes

    def _ensure_orders(self, conn: Connection, orders: dict[str, list[str]]) -> None:
        new = {sha: ids for sha, ids in orders.items() if sha not in self.known_orders}
        if not new:
            return
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(dialect_insert(ItemOrder).on_conflict_do_nothing(index_elements=["sha256"]),
                     [{"sha256": sha, "ids": ids} for sha, ids in new.items()])
        self._inserted.update(new)  # known once the transaction commits (see _write)
