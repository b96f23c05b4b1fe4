"""Verification workers: the submission queue lives in the database; workers are separate processes.

A worker claims the oldest queued submission from a leased queue (:mod:`aar.server.lease_queue`: claimed by a
conditional UPDATE, a lease renewed from a heartbeat thread, re-queued when its worker dies), verifies, and
commits the result, the per-seed predictions and the final status in one transaction guarded by its lease.
A worker exits when the process that started it dies, killing its method child.

The same workers run agents' experiments (:mod:`aar.server.experiment_jobs`), first, because a researcher
waits on each one; verification is a batch. A running row whose worker on this host has died goes back to
the queue at the next sweep, without waiting out its lease.

``aar serve`` starts a :class:`WorkerPool` (restarted on death); ``aar worker`` runs one standalone, for
example on a GPU machine pointed at a shared PostgreSQL database.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from aar.errors import AarError
from aar.execution import ExecutionSettings, MethodFailed, executor_for
from aar.process_env import environment
from aar.results.attribution import AttributionPolicy
from aar.results.submission import SCORED, transition
from aar.results.submission import SubmissionStatus as Status
from aar.results.verification import VerificationResult
from aar.server.experiment_jobs import ExperimentJobs
from aar.server.lease_queue import LeaseLost, LeaseQueue, QueueStates
from aar.server.models import Campaign, SeedPrediction, Snapshot, Submission

log = logging.getLogger("aar.worker")
# the queue's three moves, checked against the submission state machine once, here (an illegal one raises)
SUBMISSION_STATES = QueueStates(queued=transition(Status.RUNNING, Status.QUEUED),
                                running=transition(Status.QUEUED, Status.RUNNING),
                                failed=transition(Status.RUNNING, Status.FAILED),
                                on_fail={"dedupe_key": None})  # a failed submission may be sent again


def untrustworthy(result: VerificationResult) -> list[str]:
    """Why a verified result must not be ranked before a human looks: an attribution class the campaign's policy
    does not rank (text reading, researcher knowledge), a tampered or silenced audit record, or a test accuracy
    above the ceiling's upper 95% bound (no weak-to-strong method gets there honestly)."""
    reasons = []
    a = result.attribution
    if a is not None and not a.allowed:
        reasons.append(f"[attribution] class {a.kind}, which this campaign does not rank: {'; '.join(a.reasons)}")
    if result.audit is not None and result.audit.problem:
        reasons.append(f"[sandbox_tamper] audit record not trustworthy: {result.audit.problem}")
    if result.above_ceiling:
        reasons.append(f"[above_ceiling] test accuracy {result.student_acc.mean:.3f} is above the ceiling's upper "
                       f"95% bound {result.ceiling_acc.hi:.3f}")
    return reasons


class Worker:
    def __init__(self, sessions: sessionmaker, lease_s: float = 30.0, poll_s: float = 0.3,
                 watch_parent: bool = False, settings: ExecutionSettings | None = None):
        self.sessions, self.lease_s, self.poll_s = sessions, lease_s, poll_s
        # submitted code runs on a Ray cluster instead of in this machine's sandbox; the trusted part stays here
        self.executor = executor_for(settings or ExecutionSettings.from_environment())
        self.name = f"{socket.gethostname()[:40]}:{os.getpid()}"
        self.parent = os.getppid() if watch_parent else None
        self.abort = threading.Event()
        from aar import paths
        from aar.execution.experiment import ExperimentRunner

        self.submissions = LeaseQueue(Submission, sessions, self.name, lease_s, SUBMISSION_STATES, "verification")
        self.experiments = ExperimentJobs(sessions, self.name, lease_s,
                                          ExperimentRunner(self.executor, paths.artifacts_dir() / "bundles"))

    def _parent_gone(self) -> bool:
        return self.parent is not None and os.getppid() != self.parent

    def _heartbeat_loop(self, what: str, renew: Callable[[], bool], done: threading.Event) -> None:
        last = time.monotonic()
        while not done.wait(0.5):
            if self._parent_gone():
                log.error("parent process died; abandoning %s", what)
                self.abort.set()
                return
            if time.monotonic() - last >= self.lease_s / 4:
                last = time.monotonic()
                try:
                    if not renew():
                        self.abort.set()
                        return
                except Exception:  # database briefly unreachable: keep trying until the lease runs out
                    log.exception("lease renewal failed")

    def _check(self) -> None:
        if self.abort.is_set():
            raise LeaseLost()

    def process(self, sub_id: int) -> str:
        with self.sessions() as s:
            sub = s.get(Submission, sub_id)
            assert sub is not None
            snapshot = s.get(Snapshot, sub.snapshot_sha256)
            campaign = s.get(Campaign, sub.campaign_id)
            assert snapshot is not None and campaign is not None
            task, entry, params, seeds, data = sub.task, sub.entry, dict(sub.params), list(sub.seeds), snapshot.data
            timeout, policy = float(campaign.verify_timeout_s), campaign.policy
            twin = self._verified_twin(s, sub)
        if twin is not None:  # the same code, entry, params, task and seeds were verified already
            return self._finish_verified(sub_id, twin)
        with self._leased(f"submission {sub_id}", lambda: self.submissions.renew(sub_id)):
            return self._verify(sub_id, task, entry, params, seeds, data, timeout, policy)

    @contextmanager
    def _leased(self, what: str, renew: Callable[[], bool]):
        """A heartbeat thread renews the lease while the body runs; losing it sets ``abort``."""
        self.abort.clear()
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat_loop, args=(what, renew, done), daemon=True)
        beat.start()
        try:
            yield
        finally:
            done.set()
            beat.join()

    def _verify(self, sub_id: int, task: str, entry: str, params: dict, seeds: list, data: bytes,
                timeout: float, policy: AttributionPolicy) -> str:
        from aar.server.verify import verify

        try:
            verified = verify(task, entry, params, seeds, data, timeout, self._check, self.executor, policy,
                              identity=f"verify:{sub_id}")
        except LeaseLost:
            raise
        except MethodFailed as exc:  # it ran on private inputs: the submitter reads a fixed sentence, the
            # operator's log keeps the detail
            log.info("submission %d failed (%s): %s", sub_id, exc.kind, str(exc)[:2000])
            return self._finish(sub_id, Status.FAILED, error=exc.public())
        except AarError as exc:  # ours (archive, entry, testbed): no value computed by the method
            return self._finish(sub_id, Status.FAILED, error=str(exc)[:2000])
        except Exception as exc:  # a bug of ours: record it, never leave the row running forever
            log.exception("verification of submission %d crashed", sub_id)
            return self._finish(sub_id, Status.FAILED, error=f"internal error during verification "
                                                       f"({type(exc).__name__})")
        self._check()
        return self._finish_verified(sub_id, verified)

    def process_experiment(self, exp_id: int) -> str:
        with self._leased(f"experiment {exp_id}", lambda: self.experiments.renew(exp_id)):
            return self.experiments.process(exp_id, self._check)

    @staticmethod
    def _verified_twin(s, sub: Submission):
        """A verified submission of the same campaign identical in everything that determines the result's
        distribution (same code, entry, params, task and number of seeds; its seeds were drawn at random
        too), whose result and per-seed predictions are reused rather than re-drawn.
        Only within a campaign: across campaigns the installed data or code may have changed in between."""
        from aar.server.verify import Verified

        for twin in s.scalars(select(Submission).where(
                Submission.id != sub.id, Submission.campaign_id == sub.campaign_id,
                Submission.snapshot_sha256 == sub.snapshot_sha256,
                Submission.task == sub.task, Submission.entry == sub.entry, Submission.result.is_not(None),
                Submission.status.in_(SCORED)).order_by(Submission.id)):
            if twin.params != sub.params or len(twin.seeds) != len(sub.seeds):
                continue
            predictions: dict[int, dict[str, dict[str, float]]] = {}
            for row in s.scalars(select(SeedPrediction).where(SeedPrediction.submission_id == twin.id)):
                predictions.setdefault(row.seed, {})[row.split] = row.predictions
            sub.seeds = list(twin.seeds)  # the predictions reused are the twin's seeds'
            s.commit()
            return Verified(VerificationResult.model_validate(twin.result).model_copy(update={"reused_from": twin.id}),
                            predictions)
        return None

    def _finish_verified(self, sub_id: int, verified) -> str:
        reasons = untrustworthy(verified.result)
        if reasons:  # quarantined at once; the integrity scan records the same as findings
            return self._finish(sub_id, Status.QUARANTINED, verified=verified,
                                reason="integrity: " + "; ".join(reasons))
        return self._finish(sub_id, Status.VERIFIED, verified=verified)

    def _finish(self, sub_id: int, status: Status, error: str | None = None, verified=None,
                reason: str | None = None) -> str:
        with self.sessions() as s:
            self.submissions.finish(s, sub_id, transition(Status.RUNNING, status), error=error,
                                    result=verified.result.to_json() if verified else None,
                                    quarantine_reason=reason[:3900] if reason else None)
            if verified is not None:
                s.add_all(SeedPrediction(submission_id=sub_id, seed=seed, split=split, predictions=probs)
                          for seed, splits in verified.predictions.items() for split, probs in splits.items())
            s.commit()
        log.info("submission %d %s", sub_id, status)
        return status

    def run(self, stop: threading.Event | None = None, once: bool = False) -> None:
        stop = stop or threading.Event()
        last_sweep = 0.0
        while not stop.is_set():
            if self._parent_gone():
                return
            if time.monotonic() - last_sweep > self.lease_s / 2:
                self.submissions.requeue_expired()
                self.experiments.requeue_expired()
                last_sweep = time.monotonic()
            # experiments first: a researcher waits on each one, while verification is a batch
            exp_id = self.experiments.claim()
            if exp_id is not None:
                try:
                    self.process_experiment(exp_id)
                except LeaseLost:
                    if self._parent_gone():
                        return
                    log.warning("lost the lease on experiment %d", exp_id)
                continue
            sub_id = self.submissions.claim()
            if sub_id is None:
                if once:
                    return
                stop.wait(self.poll_s)
                continue
            try:
                self.process(sub_id)
            except LeaseLost:
                if self._parent_gone():
                    return
                log.warning("lost the lease on submission %d", sub_id)


class WorkerPool:
    """Worker subprocesses of ``aar serve``, restarted when they die. The database URL travels in the
    environment (not argv, where other users could read a password); the admin token does not travel."""

    def __init__(self, url: str, count: int, lease_s: float, settings: ExecutionSettings = ExecutionSettings()):
        self.url, self.count, self.lease_s, self.settings = url, count, lease_s, settings
        self.procs: list[subprocess.Popen] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._supervise, daemon=True)

    def _spawn(self) -> subprocess.Popen:
        env = {**worker_environment(), **self.settings.environment(), "AAR_DB_URL": self.url}
        if "OMP_NUM_THREADS" not in os.environ:  # N workers share the cores instead of oversubscribing them
            threads = str(max(1, (os.cpu_count() or 1) // max(1, self.count)))
            env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
        ray = ["--ray-address", self.settings.ray_address] if self.settings.ray_address else []
        return subprocess.Popen([sys.executable, "-m", "aar.server.worker", "--lease-s", str(self.lease_s),
                                 "--watch-parent", *ray], env=env)

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.count)]
        self.thread.start()

    def _supervise(self) -> None:
        while not self.stop.wait(1.0):
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None:
                    log.error("verification worker exited with %s; restarting", proc.returncode)
                    self.procs[i] = self._spawn()

    def close(self) -> None:
        self.stop.set()
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def worker_environment() -> dict[str, str]:
    """What a verification worker needs and nothing more: never the admin token, never an LLM API key."""
    return environment()


def main(argv: list[str]) -> int:
    import argparse

    from aar.server.db import make_engine, session_factory

    parser = argparse.ArgumentParser(prog="aar-worker")
    parser.add_argument("--lease-s", type=float, default=30.0)
    parser.add_argument("--watch-parent", action="store_true")
    parser.add_argument("--ray-address", default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    url = os.environ.get("AAR_DB_URL")
    if not url:
        print("error: AAR_DB_URL is not set", file=sys.stderr)
        return 2
    Worker(session_factory(make_engine(url)), lease_s=args.lease_s, watch_parent=args.watch_parent,
           settings=ExecutionSettings.from_environment(args.ray_address)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
