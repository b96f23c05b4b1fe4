"""Group commit for dev evaluations: budgets spent and evaluations logged in batches, one batch at a time.

Every evaluation changes three things in one transaction: the campaign's counter, the agent's counter (neither
may pass its budget) and the log row. Committing each request on its own made requests queue for the
database lock and for pool connections (at 32 clients, 59% of request time was spent waiting for a
connection; SQLite writers retried with sleeps of up to 100 ms). Here an async request handler queues its
scored evaluation and awaits the outcome. One batch is in flight at a time, written on the writer's own
thread: the database calls release the GIL, so the event loop keeps parsing and scoring the next requests,
which queue up and form the next batch (no waiting: at one client a batch is one request). A batch locks its
campaign rows, decides the budgets of all its requests in arrival order, writes the counters and the
accepted rows with one ``executemany`` each and commits once; then every waiting request gets its own
outcome. Budgets stay exact: counters are read and written only under the campaign rows' lock (SQLite's
write lock), and a request is answered only after its batch committed, so an answered evaluation is never
lost (a kill before the commit loses only unanswered ones). On PostgreSQL the campaign row is locked for the
length of one batch, not for a whole request.

Latency outliers: full garbage collections walking the scoring testbed's objects stalled every request for
100-200 ms (measured; the handler now freezes those objects once a task is loaded), and a commit that
crosses SQLite's autocheckpoint size would write and sync the database file inside a batch (moved to
:class:`WalCheckpointer`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, bindparam, insert, select, update
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
    decisions_sha256: str  # aar.server.vectors.decisions_sha256: the key under which a repeat is free


@dataclass(frozen=True)
class Outcome:
    accepted: bool
    budget_remaining: int
    refusal: str = ""  # why it was refused (a budget is used up)
    repeat_of: float | None = None  # the agent evaluated these decisions before: that reply, again, for free


EVALUATION_COLUMNS = ("agent_id", "campaign_id", "created_at", "task", "split", "predictions_sha256", "predictions",
                      "item_order", "vector", "accuracy", "pgr", "reported", "request_id", "decisions_sha256")
Earlier = dict[tuple[int, str], float]  # (campaign id, decisions hash) -> the reply those decisions got


def _decide(batch: list[PendingEvaluation], campaigns: dict[int, list[int]], agents: dict[int, int],
            earlier: Earlier) -> tuple[list[Outcome], list[tuple], list[int]]:
    """Budgets in arrival order (the first requests get the last budget): the outcomes, the log rows to insert
    (in ``EVALUATION_COLUMNS`` order) and the agents whose counters changed. ``campaigns`` ([used, agent budget,
    campaign budget]), ``agents`` (used) and ``earlier`` (the replies to decisions already evaluated) are
    updated in place. A repeat of decisions evaluated before *in the campaign*, by any of its agents, in an
    earlier batch or this one, gets that reply back: it spends nothing and is not logged again. One noise draw
    per vector per campaign: a fresh subsample for the same decisions would let an agent, or agents acting
    together, average the sampling noise away (per agent, four colluders got four draws of each vector)."""
    outcomes, rows, now = [], [], utcnow()
    for p in batch:
        used, dev_budget, campaign_budget = campaigns[p.campaign_id]
        mine = agents[p.agent_id]
        if (p.campaign_id, p.decisions_sha256) in earlier:
            outcomes.append(Outcome(True, max(0, dev_budget - mine),
                                    repeat_of=earlier[p.campaign_id, p.decisions_sha256]))
            continue
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
        if p.reported is not None:
            earlier[p.campaign_id, p.decisions_sha256] = p.reported
        rows.append((p.agent_id, p.campaign_id, now, p.task, "dev", p.predictions_sha256, None, p.order_sha256,
                     p.vector, p.accuracy, p.pgr, p.reported, p.request_id, p.decisions_sha256))
    touched = sorted({p.agent_id for p, o in zip(batch, outcomes, strict=True) if o.accepted and o.repeat_of is None})
    return outcomes, rows, touched


def _earlier(rows) -> Earlier:
    """The first reply each (campaign, decisions) got, from rows ordered by id."""
    earlier: Earlier = {}
    for campaign_id, decisions, reported in rows:
        if reported is not None:
            earlier.setdefault((campaign_id, decisions), reported)
    return earlier


class EvaluationWriter:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.known_orders: set[str] = set()  # item orders committed to the database
        self._queued: list[tuple[PendingEvaluation, asyncio.Future]] = []
        self._drainer: asyncio.Task | None = None  # writing batches while it is not done
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aar-eval-writer")
        self._checkpointer: WalCheckpointer | None = None
        self.batches = 0  # batches committed whole (tests check that requests share commits)

    async def write(self, pending: PendingEvaluation) -> Outcome:
        """Queue one evaluation and wait for its outcome. One batch is in flight at a time, written on the
        writer's thread (the database calls release the GIL, so the event loop goes on parsing and scoring
        the next requests meanwhile); whatever queued up during it forms the next batch."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queued.append((pending, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())  # (the reference also keeps the task alive)
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queued:
            # a request whose client went away before its batch began is dropped unwritten
            queued, self._queued = [(p, f) for p, f in self._queued if not f.done()], []
            for start in range(0, len(queued), MAX_BATCH):
                chunk = queued[start:start + MAX_BATCH]
                try:
                    results = await loop.run_in_executor(self._thread, self._write, [p for p, _ in chunk])
                except Exception as exc:  # a bug here must not leave requests waiting forever
                    log.exception("the evaluation writer failed on a batch of %d", len(chunk))
                    results = [exc] * len(chunk)
                for (_, future), result in zip(chunk, results, strict=True):
                    if future.done():  # abandoned while its batch was written: written, unanswered
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)

    def _write(self, batch: list[PendingEvaluation]) -> list[Outcome | BaseException]:
        if self.engine.dialect.name == "sqlite" and self._checkpointer is None:
            self._checkpointer = WalCheckpointer(self.engine)
            self._checkpointer.start()
        try:
            outcomes: list[Outcome | BaseException] = list(self._commit(batch))
        except Exception:  # one bad row must not fail its neighbours: retry one by one
            log.exception("batch of %d evaluations failed; writing them one at a time", len(batch))
            outcomes = []
            for pending in batch:
                try:
                    (outcome,) = self._commit([pending])
                except Exception as exc:  # reported to that request only
                    outcomes.append(exc)
                else:
                    outcomes.append(outcome)
            return outcomes
        self.batches += 1
        return outcomes

    def _commit(self, batch: list[PendingEvaluation]) -> list[Outcome]:
        """One transaction for ``batch``; item orders count as known only once it committed."""
        orders = {p.order_sha256: p.order_ids for p in batch if p.order_sha256 not in self.known_orders}
        with self.engine.begin() as conn:
            apply = self._apply_pipelined if conn.dialect.name == "postgresql" else self._apply
            outcomes, inserted = apply(conn, batch, orders)
        self.known_orders.update(inserted)
        return outcomes

    def _apply(self, conn: Connection, batch: list[PendingEvaluation],
               orders: dict[str, list[str]]) -> tuple[list[Outcome], dict[str, list[str]]]:
        """SQLite: budgets of the whole batch in five statements, plus the batch's new item ``orders`` if it
        logs anything; returns the outcomes and the orders inserted. A no-op update of the batch's campaign
        rows comes first and returns their counters and budgets: it takes SQLite's write lock (no
        reader-to-writer upgrade, so no busy retries) and, on PostgreSQL (:meth:`_apply_pipelined`), the
        campaign rows' locks, so no counter can change before this commits (another server process
        evaluating for the same campaign waits for one batch, not one request)."""
        info = conn.connection.info  # kept with the pooled DBAPI connection across checkouts
        if not info.get("aar_no_autocheckpoint"):
            conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")  # it never checkpoints on commit (WalCheckpointer)
            info["aar_no_autocheckpoint"] = True
        campaign_ids = sorted({p.campaign_id for p in batch})
        agent_ids = sorted({p.agent_id for p in batch})
        campaigns = {row.id: [row.dev_evals_used, row.dev_budget, row.campaign_dev_budget] for row in conn.execute(
            update(Campaign).where(Campaign.id.in_(campaign_ids)).values(dev_evals_used=Campaign.dev_evals_used)
            .returning(Campaign.id, Campaign.dev_evals_used, Campaign.dev_budget, Campaign.campaign_dev_budget))}
        agents = dict(conn.execute(select(Agent.id, Agent.dev_evals_used).where(Agent.id.in_(agent_ids))).all())
        earlier = _earlier(conn.execute(
            select(Evaluation.campaign_id, Evaluation.decisions_sha256, Evaluation.reported)
            .where(Evaluation.campaign_id.in_(campaign_ids),
                   Evaluation.decisions_sha256.in_(sorted({p.decisions_sha256 for p in batch})))
            .order_by(Evaluation.id)).all())
        outcomes, rows, touched = _decide(batch, campaigns, agents, earlier)
        if rows:
            conn.execute(update(Agent).where(Agent.id == bindparam("agent")).values(dev_evals_used=bindparam("used")),
                         [{"agent": a, "used": agents[a]} for a in touched])
            conn.execute(update(Campaign).where(Campaign.id == bindparam("campaign"))
                         .values(dev_evals_used=bindparam("used")),
                         [{"campaign": c, "used": campaigns[c][0]} for c in campaign_ids])
            if orders:
                conn.execute(sqlite_insert(ItemOrder).on_conflict_do_nothing(index_elements=["sha256"]),
                             [{"sha256": sha, "ids": ids} for sha, ids in orders.items()])
            conn.execute(insert(Evaluation), [dict(zip(EVALUATION_COLUMNS, row, strict=True)) for row in rows])
        return outcomes, orders if rows else {}

    def _apply_pipelined(self, conn: Connection, batch: list[PendingEvaluation],
                         orders: dict[str, list[str]]) -> tuple[list[Outcome], dict[str, list[str]]]:
        """The same statements on PostgreSQL, sent in two psycopg pipelines (the two reads, then the four
        writes): two round trips and the commit instead of seven. Each round trip cost 2-7 ms at 32 clients
        on this machine, where the database's backends share two cores with the server and the load."""
        from psycopg.types.json import Json

        raw = conn.connection.driver_connection
        assert raw is not None  # an open connection has its driver's
        campaign_ids = sorted({p.campaign_id for p in batch})
        agent_ids = sorted({p.agent_id for p in batch})
        with raw.pipeline():
            locked = raw.execute("UPDATE campaigns SET dev_evals_used = dev_evals_used WHERE id = ANY(%s) "
                                 "RETURNING id, dev_evals_used, dev_budget, campaign_dev_budget", (campaign_ids,))
            counted = raw.execute("SELECT id, dev_evals_used FROM agents WHERE id = ANY(%s)", (agent_ids,))
            repeats = raw.execute("SELECT campaign_id, decisions_sha256, reported FROM evaluations WHERE "
                                  "campaign_id = ANY(%s) AND decisions_sha256 = ANY(%s) ORDER BY id",
                                  (campaign_ids, sorted({p.decisions_sha256 for p in batch})))
            campaigns = {r[0]: [r[1], r[2], r[3]] for r in locked.fetchall()}
            agents = dict(counted.fetchall())
            earlier = _earlier(repeats.fetchall())
        outcomes, rows, touched = _decide(batch, campaigns, agents, earlier)
        if rows:
            with raw.pipeline(), raw.cursor() as cur:
                cur.executemany("UPDATE agents SET dev_evals_used = %s WHERE id = %s",
                                [(agents[a], a) for a in touched])
                cur.executemany("UPDATE campaigns SET dev_evals_used = %s WHERE id = %s",
                                [(campaigns[c][0], c) for c in campaign_ids])
                if orders:
                    cur.executemany("INSERT INTO item_orders (sha256, ids) VALUES (%s, %s) "
                                    "ON CONFLICT (sha256) DO NOTHING", [(k, Json(v)) for k, v in orders.items()])
                cur.executemany(f"INSERT INTO evaluations ({', '.join(EVALUATION_COLUMNS)}) "
                                f"VALUES ({', '.join(['%s'] * len(EVALUATION_COLUMNS))})", rows)
        return outcomes, orders if rows else {}


class WalCheckpointer(threading.Thread):
    """Moves SQLite's write-ahead log into the database file from a thread of its own. A commit that crosses
    the autocheckpoint size (1,000 pages) checkpoints inline, writing and syncing the database file while its
    batch waits. The writer's connections skip that; this thread runs a passive checkpoint (it never blocks
    writers or readers) every second, so the log stays small. Other connections keep SQLite's default."""

    def __init__(self, engine: Engine, every_s: float = 1.0):
        super().__init__(name="aar-wal-checkpoint", daemon=True)
        self.engine, self.every_s = engine, every_s

    def run(self) -> None:
        while True:
            time.sleep(self.every_s)
            try:
                with self.engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            except Exception:  # the next round tries again
                log.exception("WAL checkpoint failed")
