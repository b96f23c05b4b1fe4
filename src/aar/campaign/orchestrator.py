"""`aar run`: one campaign end to end, resumable.

The orchestrator starts the evaluation server as a child on loopback, creates the campaign and its agents
(directions drawn without replacement), runs every researcher as its own process, restarts a researcher
that dies or stalls (up to a limit; it resumes from its notebook and saved state), shows progress live,
waits for the verification queue to drain, corrects the campaign's p-values for multiple comparisons
and writes ``results.json``. All state is in the server database and the campaign folder, so after a
crash ``aar run --resume NAME`` continues: finished agents stay finished, the others pick up where their
state says.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table
from sqlalchemy import select

from aar.campaign.directions import DIRECTIONS, Direction, draw
from aar.campaign.spec import CampaignSpec
from aar.errors import AarError
from aar.fsio import write_text_atomic
from aar.process_env import LLM, NETWORK, environment
from aar.report.html import write_report
from aar.report.terminal import campaign_table
from aar.results.campaign import AgentRow, BestRow, CampaignResults, FindingRow, SubmissionRow, TaskRow
from aar.results.submission import OPEN
from aar.results.submission import SubmissionStatus as Status
from aar.stats.multiple import benjamini_hochberg, holm
from aar.stats.ranking import rank_key

DONE_REASONS = ("finished", "budget", "wall time", "idle", "max turns")


def die_with_parent() -> None:
    """Children get SIGTERM when the orchestrator dies, even by SIGKILL (Linux prctl PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _secret_file(path: Path, value: str) -> None:
    write_text_atomic(path, value)
    path.chmod(0o600)


class Orchestrator:
    def __init__(self, spec: CampaignSpec, console: Console | None = None, pool: list[Direction] | None = None):
        self.spec, self.console = spec, console or Console()
        self.folder = spec.folder()
        self.pool = pool or DIRECTIONS
        self.server: subprocess.Popen | None = None
        self.base = ""
        self.admin_token = ""
        self.procs: dict[str, subprocess.Popen] = {}
        self.restarts: dict[str, int] = {}
        self.findings: list[FindingRow] = []

    # --- server ------------------------------------------------------------------------------------------
    def start_server(self) -> None:
        token_file = self.folder / "admin_token"
        if not token_file.exists():
            _secret_file(token_file, "aar_admin_" + secrets.token_urlsafe(32))
        self.admin_token = token_file.read_text().strip()
        db = self.spec.db_url()
        port = _free_port()
        cmd = [sys.executable, "-m", "aar.cli", "serve", "--port", str(port), "--db", db,
               "--workers", str(self.spec.workers)]
        if self.spec.unsafe_sandbox:
            cmd.append("--unsafe-sandbox")
        if self.spec.ray_address:
            cmd += ["--executor", "ray", "--ray-address", self.spec.ray_address]
        log = (self.folder / "server.log").open("ab")
        self.server = subprocess.Popen(cmd, env=environment(AAR_ADMIN_TOKEN=self.admin_token), stdout=log,
                                       stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.server.poll() is not None:
                raise AarError(f"the evaluation server exited; see {self.folder / 'server.log'}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise AarError("the evaluation server did not start within 120 s")

    def admin(self, method: str, path: str, **kwargs) -> dict:
        r = httpx.request(method, f"{self.base}{path}", headers={"Authorization": f"Bearer {self.admin_token}"},
                          timeout=120, **kwargs)
        if r.status_code >= 400:
            raise AarError(f"server said {r.status_code} to {method} {path}: {r.text[:300]}")
        return r.json()

    # --- setup -------------------------------------------------------------------------------------------
    def warm(self) -> None:
        """Build data, features and the reference runs once, here, before N researchers and the server would
        each compute the same things at the same time (content-addressed caches make this a no-op when warm)."""
        from aar.server.scoring import DevScorer

        scorer = DevScorer()
        for task in self.spec.tasks:
            started = time.time()
            scorer.dev_ids(task)  # features + weak/ceiling reference runs used by the dev scores
            self.console.print(f"prepared {task} in {time.time() - started:.0f} s", highlight=False)

    def agent_names(self) -> list[str]:
        return [f"r{i + 1}-{d['key']}"[:64] for i, d in enumerate(self.spec.directions)]

    def create(self) -> None:
        spec = self.spec
        if not spec.directions:
            spec.directions = [{"key": d.key, "text": d.text(spec.detail)}
                               for d in draw(self.pool, spec.agents, spec.seed)]
        spec.save()
        self.admin("POST", "/v1/admin/campaigns", json={
            "name": spec.name, "dev_budget": spec.dev_evals, "submit_budget": spec.submit_budget,
            "verify_seeds": spec.verify_seeds, "agent_wall_s_budget": spec.wall_minutes * 60})
        for name in self.agent_names():
            token = self.admin("POST", f"/v1/admin/campaigns/{spec.name}/agents", json={"name": name})["token"]
            (self.folder / "agents" / name).mkdir(parents=True, exist_ok=True)
            _secret_file(self.folder / "agents" / name / "token", token)

    # --- agents ------------------------------------------------------------------------------------------
    def spawn(self, index: int, name: str) -> None:
        spec, folder = self.spec, self.folder / "agents" / name
        cmd = [sys.executable, "-m", "aar.cli", "agent", "run", "--server", self.base, "--campaign", spec.name,
               "--name", name, "--dir", str(folder), "--direction", spec.directions[index]["text"],
               "--backend", spec.backend, "--dev-evals", str(spec.dev_evals), "--wall-minutes", str(spec.wall_minutes),
               "--token-file", str(folder / "token"), "--seed", str(spec.seed * 1000 + index)]
        for task in spec.tasks:
            cmd += ["--task", task]
        for flag, value in (("--model", spec.model), ("--base-url", spec.base_url),
                            ("--ray-address", spec.ray_address)):
            if value:
                cmd += [flag, value]
        if spec.unsafe_sandbox:
            cmd.append("--unsafe-sandbox")
        log = (folder / "agent.log").open("ab")
        threads = str(max(1, (os.cpu_count() or 1) // max(1, len(self.spec.directions))))
        # the researcher's LLM credentials and the admin token (its ledger and transcript mirror); N researchers
        # share the cores instead of oversubscribing them
        env = environment(*LLM, *NETWORK, AAR_ADMIN_TOKEN=self.admin_token, OMP_NUM_THREADS=threads,
                          MKL_NUM_THREADS=threads)
        self.procs[name] = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            preexec_fn=die_with_parent)

    def agents(self) -> list[AgentRow]:
        """Every researcher's state and accounting, from the server's admin view."""
        view = self.admin("GET", f"/v1/admin/campaigns/{self.spec.name}")
        return [AgentRow.model_validate(a) for a in view["agents"]]

    @staticmethod
    def done(agent: AgentRow) -> bool:
        return agent.state == "stopped" and any(str(agent.stop_reason).startswith(r) for r in DONE_REASONS)

    def table(self, agents: list[AgentRow]) -> Table:
        table = Table(title=f"campaign {self.spec.name}: {len(self.procs)} researchers, backend {self.spec.backend}")
        for column in ("agent", "direction", "state", "dev evals", "best dev PGR", "submissions", "$", "compute s"):
            table.add_column(column)
        directions = dict(zip(self.agent_names(), self.spec.directions, strict=True))
        for a in agents:
            state = a.state + (f" ({a.stop_reason})" if a.stop_reason else "")
            table.add_row(a.name, directions[a.name]["key"], state, str(a.dev_evals_used),
                          "-" if a.best_dev_pgr is None else f"{a.best_dev_pgr:.2f}", str(a.submissions_used),
                          f"{a.cost_usd:.3f}", f"{a.compute_s:.0f}")
        return table

    def supervise(self) -> None:
        names = self.agent_names()
        agents = self.agents()
        by_name = {a.name: a for a in agents}
        for i, name in enumerate(names):
            if not self.done(by_name[name]):
                self.spawn(i, name)
        with Live(self.table(agents), console=self.console, refresh_per_second=1, transient=False) as live:
            while any(p.poll() is None for p in self.procs.values()):
                time.sleep(2)
                agents = self.agents()
                live.update(self.table(agents))
                by_name = {a.name: a for a in agents}
                for i, name in enumerate(names):
                    proc = self.procs.get(name)
                    if proc is None:
                        continue
                    stalled = self._stalled(by_name[name]) and proc.poll() is None
                    if stalled:
                        proc.kill()
                        proc.wait()
                    if proc.poll() not in (None, 0) or stalled:
                        if self.restarts.get(name, 0) >= self.spec.max_restarts:
                            self.console.print(f"[red]{name} died {self.spec.max_restarts + 1} times; giving up[/]")
                            self.procs.pop(name)
                            continue
                        self.restarts[name] = self.restarts.get(name, 0) + 1
                        self.console.print(f"[yellow]restarting {name} (exit {proc.returncode})[/]")
                        self.spawn(i, name)

    def _stalled(self, agent: AgentRow) -> bool:
        if not agent.last_seen:
            return False
        from datetime import UTC, datetime

        seen = datetime.fromisoformat(agent.last_seen)
        seen = seen if seen.tzinfo else seen.replace(tzinfo=UTC)
        return (datetime.now(UTC) - seen).total_seconds() > self.spec.stall_minutes * 60

    # --- the end -----------------------------------------------------------------------------------------
    def wait_for_verification(self, timeout_s: float = 7200) -> None:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            counts = self.admin("GET", "/v1/admin/submissions", params={"campaign": self.spec.name})["counts"]
            if not any(counts.get(status) for status in OPEN):
                return
            self.console.print(f"verifying: {counts}", highlight=False)
            time.sleep(5)
        raise AarError("verification did not finish in time; run `aar run --resume` to wait again")

    def integrity(self) -> None:
        """Scan for evaluation gaming before anything is ranked: flagged submissions are quarantined and
        leave the results until an admin clears them (`aar integrity review`). The best method per task
        gets a teacher ablation."""
        from aar.integrity.scan import scan
        from aar.server.db import make_engine, session_factory
        from aar.server.models import Campaign

        engine = make_engine(self.spec.db_url())
        try:
            with session_factory(engine)() as session:
                campaign = session.scalar(select(Campaign).where(Campaign.name == self.spec.name))
                findings, counts = scan(session, campaign, ablation=True, ablate_top=1)
        finally:
            engine.dispose()
        self.findings = [FindingRow(detector=f.detector, severity=f.severity, agent=f.agent, task=f.task,
                                    submission=f.submission_id, summary=f.summary) for f in findings]
        self.console.print(f"integrity: {len(findings)} finding(s), quarantined {counts['quarantined'] or 'none'}"
                           " (details: `aar integrity review " + self.spec.name + "`)", highlight=False)

    def results(self, started: float) -> CampaignResults:
        """Every submission from the server, p-values corrected across the verified ones, the best per task."""
        queue = self.admin("GET", "/v1/admin/submissions", params={"campaign": self.spec.name, "limit": 1000})
        rows = [SubmissionRow.model_validate(s) for s in queue["submissions"]]
        verified = [s for s in rows if s.status == Status.VERIFIED and s.result is not None]
        pvalues = [1.0 if s.result.p_vs_vanilla is None else s.result.p_vs_vanilla for s in verified]
        for s, p_holm, p_bh in zip(verified, holm(pvalues), benjamini_hochberg(pvalues), strict=True):
            s.p_holm, s.p_bh = p_holm, p_bh
        agents = self.agents()
        per_task = {}
        for task in self.spec.tasks:
            ranked = sorted((s for s in verified if s.task == task), key=lambda s: rank_key(s.result.pgr.mean, s.id))
            best = ranked[0] if ranked else None
            per_task[task] = TaskRow(vanilla_pgr=best.result.vanilla_pgr if best else None,
                                     best=BestRow.of(best) if best else None, verified_submissions=len(ranked))
        result = CampaignResults(campaign=self.spec.name, wall_s=time.time() - started,
                                 cost_usd=sum(a.cost_usd for a in agents),
                                 dev_evaluations=sum(a.dev_evals_used for a in agents), agents=agents,
                                 tasks=per_task, integrity=self.findings, submissions=rows)
        result.save(self.folder)
        return result

    def transfer(self) -> dict:
        """The gauntlet: top verified methods and baselines on fresh seeds, the holdout split, other tasks and
        other model pairs. Resumable: its cells are cached by content."""
        from aar.campaign.transfer import GauntletSpec, transfer_seeds
        from aar.campaign.transfer_run import run_transfer
        from aar.report.transfer import terminal_table

        spec = self.spec
        gauntlet = GauntletSpec(top_k=spec.transfer_top_k, workers=spec.workers, ray_address=spec.ray_address,
                                unsafe_sandbox=spec.unsafe_sandbox,
                                seeds=transfer_seeds(spec.transfer_seeds))
        result = run_transfer(spec.name, spec.db_url(), gauntlet, tasks=spec.tasks,
                              log=lambda m: self.console.print(m, highlight=False, soft_wrap=True))
        self.console.print(terminal_table(result))
        return result

    def stop(self) -> None:
        for proc in [*self.procs.values(), *([self.server] if self.server else [])]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.procs.values(), *([self.server] if self.server else [])]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def run_campaign(spec: CampaignSpec, resume: bool = False, console: Console | None = None) -> CampaignResults:
    orchestrator = Orchestrator(spec, console)
    started = time.time()
    if not resume and (spec.folder() / "spec.json").exists():
        raise AarError(f"campaign {spec.name!r} exists; resume it with `aar run --resume {spec.name}`")
    spec.folder().mkdir(parents=True, exist_ok=True)
    try:
        orchestrator.warm()
        orchestrator.start_server()
        orchestrator.console.print(f"dashboard: {orchestrator.base}/dashboard/ (sign in with the token in "
                                   f"{spec.folder() / 'admin_token'})", highlight=False)
        if not resume:
            orchestrator.create()
        orchestrator.supervise()
        orchestrator.wait_for_verification()
        orchestrator.integrity()
        result = orchestrator.results(started)
        orchestrator.console.print(campaign_table(result))
        if spec.transfer:
            orchestrator.transfer()
        orchestrator.console.print(f"report: {write_report(spec.folder(), spec.db_url())}")
        return result
    finally:
        orchestrator.stop()
