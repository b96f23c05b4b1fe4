"""Wiring one researcher: its folder, sandbox, experiment runner, server client, ledger, backend and loop.

Layout of an agent folder (on the orchestrator's machine; only ``workspace/`` is writable in the sandbox,
``bundles/`` and the public task data are mounted read-only, nothing else of ``AAR_HOME`` is visible)::

    <agent dir>/workspace/         the agent's files and experiments
    <agent dir>/bundles/           label-free experiment inputs written by the orchestrator
    <agent dir>/notebook.md        persistent memory across context resets and restarts
    <agent dir>/transcript.jsonl   every message and tool call
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from aar.errors import AarError
from aar.methods.registry import available
from aar.researchers.brief import render_brief
from aar.researchers.client import AgentClient, Ledger
from aar.researchers.experiments import ServerExperiments
from aar.researchers.llm import DEFAULT_ANTHROPIC_MODEL, AnthropicBackend, LLMBackend, OpenAIBackend
from aar.researchers.loop import AgentLoop, Limits
from aar.researchers.pricing import PRICES, Price
from aar.researchers.tools import ToolContext
from aar.researchers.transcript import Transcript
from aar.results.api import TaskInfo
from aar.results.attribution import AttributionPolicy
from aar.sandbox import Sandbox
from aar.tasks.registry import task_dir

BACKENDS = ("heuristic", "anthropic", "openai")


@dataclass
class AgentConfig:
    server: str
    campaign: str
    agent: str
    token: str
    directory: Path
    direction: str
    tasks: list[str]
    backend: str = "heuristic"
    model: str | None = None
    base_url: str | None = None
    ledger_token: str | None = None  # this agent's ledger token; without it usage is only in the transcript
    dev_evals: int = 50
    limits: Limits = field(default_factory=Limits)
    unsafe_sandbox: bool = False
    prices: dict[str, Price] = field(default_factory=lambda: dict(PRICES))
    seed: int = 0


def make_backend(config: AgentConfig, task_info: dict[str, TaskInfo]) -> LLMBackend:
    """``task_info``: the server's public description of each task (the heuristic plans with its noise)."""
    if config.backend == "heuristic":
        from aar.researchers.heuristic import HeuristicResearcher

        return HeuristicResearcher(task_info, config.direction, config.dev_evals, seed=config.seed,
                                   state_path=config.directory / "heuristic_state.json")
    if config.backend == "anthropic":
        return AnthropicBackend(model=config.model or DEFAULT_ANTHROPIC_MODEL, base_url=config.base_url)
    if config.backend == "openai":
        if not config.model:
            raise AarError("the openai backend needs --model (the model name your server serves)")
        return OpenAIBackend(model=config.model, base_url=config.base_url or os.environ.get("OPENAI_BASE_URL"))
    raise AarError(f"unknown backend {config.backend!r}; use one of {', '.join(BACKENDS)}")


def budgets_text(config: AgentConfig) -> str:
    return (f"- dev evaluations: {config.dev_evals} in all (the server enforces this)\n"
            f"- wall time: {config.limits.wall_s / 60:.0f} minutes; turns: {config.limits.max_turns}\n"
            f"- dollars, tokens and experiment compute: set per campaign; the run stops when one is spent")


def campaign_policy(client: AgentClient) -> AttributionPolicy | None:
    """The campaign's attribution policy from ``/v1/me`` (None when the server cannot be asked)."""
    try:
        return client.me().policy
    except AarError:
        return None


def status_budgets(client: AgentClient) -> str:
    """The budgets part of the brief from the server's ``/v1/me`` (for clients of ``aar agent mcp``)."""
    try:
        me = client.me()
    except AarError as exc:
        return f"- unknown ({exc}); call the `status` tool"
    return (f"- dev evaluations: {me.dev_evaluations.budget:g} ({me.dev_evaluations.left:g} left); "
            f"submissions: {me.submissions.budget:g} ({me.submissions.left:g} left), each verified on "
            f"{me.verification_seeds} hidden seeds\n"
            f"- dollars: {me.usd.budget:.2f}; tokens: {me.tokens.budget:,.0f} "
            f"({me.llm_usage}); experiment compute: {me.compute_s.budget / 3600:.1f} h\n"
            f"- the `status` tool shows what is left of each, at any time")


def tool_context(config: AgentConfig) -> ToolContext:
    """The tools' world for one agent: workspace, sandbox, server client, experiments (run by the server),
    and each task's public description from the server: this process never loads a labelled task."""
    client = AgentClient(config.server, config.token)
    info = {name: client.task_info(name) for name in config.tasks}  # an unknown task: the server says so
    workspace = config.directory / "workspace"
    workspace.mkdir(parents=True, exist_ok=True)
    sandbox = Sandbox(unsafe=config.unsafe_sandbox)
    # the label-free public splits, read-only in the agent's sandbox where this host has them
    public = {task_dir(name) / "public": f"/data/{name}" for name in info}
    return ToolContext(workspace=workspace, notebook=config.directory / "notebook.md", client=client,
                       sandbox=sandbox, experiments=ServerExperiments(client, workspace), tasks=list(info),
                       task_info=info, read_only={p: inside for p, inside in public.items() if p.is_dir()},
                       identity=f"agent:{config.campaign}:{config.agent}")


def build(config: AgentConfig) -> AgentLoop:
    ctx = tool_context(config)
    ledger = Ledger(config.server, config.ledger_token, config.campaign, config.agent) if config.ledger_token else None
    system = render_brief(config.agent, config.campaign, config.direction, ctx.task_info, list(available()),
                          budgets_text(config), campaign_policy(ctx.client))
    return AgentLoop(make_backend(config, ctx.task_info), ctx, system, _transcript(config.directory, ledger),
                     ledger=ledger, limits=config.limits, prices=config.prices)


def _transcript(directory: Path, ledger: Ledger | None) -> Transcript:
    path = directory / "transcript.jsonl"
    if ledger is None:
        return Transcript(path)
    try:
        mirrored = ledger.transcript_seq()
    except Exception:
        mirrored = 0
    return Transcript(path, mirror=ledger.send_transcript, mirrored_seq=mirrored)


def run_agent(config: AgentConfig) -> str:
    return build(config).run()
