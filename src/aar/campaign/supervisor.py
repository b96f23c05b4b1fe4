"""The researchers as processes: one `aar agent run` per direction, restarted when it dies or stalls (up to a
limit; it resumes from its notebook and saved state), with a live table of every agent's progress."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from aar.campaign.admin_client import AdminClient
from aar.campaign.processes import die_with_parent, stop_all
from aar.campaign.spec import CampaignSpec
from aar.process_env import LLM, NETWORK, environment
from aar.results.campaign import AgentRow
from aar.results.lifecycle import AgentState, stop_kind
from aar.seeds import agent_seed

POLL_S = 0.5  # one admin API read per poll: cheap, and a finished researcher is noticed at once


def agent_names(spec: CampaignSpec) -> list[str]:
    return [f"r{i + 1}-{d['key']}"[:64] for i, d in enumerate(spec.directions)]


def done(agent: AgentRow) -> bool:
    """Stopped for a reason that is an end (not a crash): it is not started again, also not on resume."""
    return agent.state == AgentState.STOPPED and stop_kind(agent.stop_reason) is not None


class Supervisor:
    def __init__(self, spec: CampaignSpec, client: AdminClient, console: Console):
        self.spec, self.client, self.console = spec, client, console
        self.procs: dict[str, subprocess.Popen] = {}
        self.restarts: dict[str, int] = {}

    def folder(self, name: str) -> Path:
        return self.spec.folder() / "agents" / name

    def spawn(self, index: int, name: str) -> None:
        spec, folder = self.spec, self.folder(name)
        cmd = [sys.executable, "-m", "aar.cli", "agent", "run", "--server", self.client.base_url, "--campaign",
               spec.name, "--name", name, "--dir", str(folder), "--direction", spec.directions[index]["text"],
               "--backend", spec.backend, "--dev-evals", str(spec.dev_evals), "--wall-minutes",
               str(spec.wall_minutes), "--token-file", str(folder / "token"),
               "--seed", str(agent_seed(spec.seed, index))]
        for task in spec.tasks:
            cmd += ["--task", task]
        for flag, value in (("--model", spec.model), ("--base-url", spec.base_url)):  # experiments: server-side
            if value:
                cmd += [flag, value]
        if spec.unsafe_sandbox:
            cmd.append("--allow-unsandboxed")
        threads = str(max(1, (os.cpu_count() or 1) // max(1, len(spec.directions))))
        # the researcher's LLM credentials and its own ledger token (usage, state, transcript mirror: that agent
        # only; never the admin token); N researchers share the cores instead of oversubscribing them
        env = environment(*LLM, *NETWORK, AAR_LEDGER_TOKEN=self.client.ledger_token(spec.name, name),
                          OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
        with (folder / "agent.log").open("ab") as log:
            self.procs[name] = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                                preexec_fn=die_with_parent)

    def table(self, agents: list[AgentRow]) -> Table:
        table = Table(title=f"campaign {self.spec.name}: {len(self.procs)} researchers, backend {self.spec.backend}")
        for column in ("agent", "direction", "state", "dev evals", "best dev PGR", "submissions", "$", "compute s"):
            table.add_column(column)
        directions = dict(zip(agent_names(self.spec), self.spec.directions, strict=True))
        for a in agents:
            if a.name not in directions:  # an earlier campaign's author (inherited): not a researcher here
                continue
            state = a.state + (f" ({a.stop_reason})" if a.stop_reason else "")
            table.add_row(a.name, directions[a.name]["key"], state, str(a.dev_evals_used),
                          "-" if a.best_dev_pgr is None else f"{a.best_dev_pgr:.2f}", str(a.submissions_used),
                          f"{a.cost_usd:.3f}", f"{a.compute_s:.0f}")
        return table

    def run(self) -> None:
        """Start every researcher that has not finished; return when all have exited for good."""
        names = agent_names(self.spec)
        agents = self.client.agents(self.spec.name)
        by_name = {a.name: a for a in agents}
        for i, name in enumerate(names):
            if not done(by_name[name]):
                self.spawn(i, name)
        with Live(self.table(agents), console=self.console, refresh_per_second=1, transient=False) as live:
            while any(p.poll() is None for p in self.procs.values()):
                time.sleep(POLL_S)
                agents = self.client.agents(self.spec.name)
                live.update(self.table(agents))
                by_name = {a.name: a for a in agents}
                for i, name in enumerate(names):
                    self._restart_if_needed(i, name, by_name[name])

    def _restart_if_needed(self, index: int, name: str, agent: AgentRow) -> None:
        proc = self.procs.get(name)
        if proc is None:
            return
        stalled = self._stalled(agent) and proc.poll() is None
        if stalled:
            proc.kill()
            proc.wait()
        if proc.poll() not in (None, 0) or stalled:
            if self.restarts.get(name, 0) >= self.spec.max_restarts:
                self.console.print(f"[red]{name} died {self.spec.max_restarts + 1} times; giving up[/]")
                self.procs.pop(name)
                return
            self.restarts[name] = self.restarts.get(name, 0) + 1
            self.console.print(f"[yellow]restarting {name} (exit {proc.returncode})[/]")
            self.spawn(index, name)

    def _stalled(self, agent: AgentRow) -> bool:
        if not agent.last_seen:
            return False
        seen = datetime.fromisoformat(agent.last_seen)
        seen = seen if seen.tzinfo else seen.replace(tzinfo=UTC)
        return (datetime.now(UTC) - seen).total_seconds() > self.spec.stall_minutes * 60

    def stop(self) -> None:
        stop_all(list(self.procs.values()))
