"""`aar agent run|status|transcript|mcp|call`: one researcher from the command line, its accounting, its
transcript, its tools over MCP."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from aar.cli.common import (
    AgentName,
    AgentToken,
    CampaignName,
    ServerUrl,
    TaskList,
    UnsafeSandbox,
    console,
)
from aar.errors import AarError
from aar.tasks.registry import DEFAULT_TASKS

app = typer.Typer(help="Run a researcher agent; show agents' status and transcripts.", no_args_is_help=True)


def _secret(value_file: Path | None, env: str, what: str, required: bool = True) -> str | None:
    if value_file is not None:
        try:
            return value_file.read_text().strip()
        except OSError as exc:
            raise AarError(f"cannot read {what} from {value_file}: {exc.strerror}") from None
    if os.environ.get(env):
        return os.environ[env]
    if required:
        raise AarError(f"no {what}: pass its file or set {env}")
    return None


@app.command("run")
def run(
    server: ServerUrl,
    campaign: CampaignName,
    name: AgentName,
    directory: Annotated[Path, typer.Option("--dir", help="agent folder (workspace, notebook, transcript)")],
    direction: Annotated[str, typer.Option(help="research direction, vague is fine")] = "improve weak-to-strong "
                                                                                      "generalization",
    task: TaskList = None,
    backend: Annotated[str, typer.Option(help="heuristic | anthropic | openai")] = "heuristic",
    model: Annotated[str | None, typer.Option(help="LLM model name")] = None,
    base_url: Annotated[str | None, typer.Option(help="API base URL (vLLM, Ollama, a proxy)")] = None,
    token_file: AgentToken = None,
    dev_evals: Annotated[int, typer.Option(min=1)] = 50,
    wall_minutes: Annotated[float, typer.Option(min=0.1)] = 60,
    max_turns: Annotated[int, typer.Option(min=1)] = 200,
    price: Annotated[list[str] | None, typer.Option(help="MODEL=in,out[,cache_read[,cache_write]] USD/Mtok")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    unsafe_sandbox: UnsafeSandbox = False,
) -> None:
    """Run one researcher until it finishes or a budget is spent (usage goes to the server's ledger when
    AAR_LEDGER_TOKEN holds this agent's ledger token: `POST /v1/admin/campaigns/C/agents/A/ledger-token`)."""
    from aar.researchers.loop import Limits
    from aar.researchers.pricing import PRICES, parse_price
    from aar.researchers.runner import AgentConfig, run_agent

    prices = dict(PRICES)
    for spec in price or []:
        key, value = parse_price(spec)
        prices[key] = value
    config = AgentConfig(server=server, campaign=campaign, agent=name, directory=directory, direction=direction,
                         token=_secret(token_file, "AAR_AGENT_TOKEN", "agent token") or "",
                         tasks=task or list(DEFAULT_TASKS), backend=backend, model=model, base_url=base_url,
                         ledger_token=_secret(None, "AAR_LEDGER_TOKEN", "ledger token", required=False),
                         dev_evals=dev_evals, limits=Limits(wall_s=wall_minutes * 60, max_turns=max_turns),
                         unsafe_sandbox=unsafe_sandbox, prices=prices, seed=seed)
    reason = run_agent(config)
    console.print(f"[green]{name}[/] stopped: {reason}")


@app.command("status")
def status(
    server: ServerUrl,
    campaign: CampaignName,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Agents of a campaign: state, LLM calls, tokens, dollars, compute seconds, dev evaluations (admin)."""
    from aar.campaign.admin_client import AdminClient

    data = AdminClient(server, _secret(None, "AAR_ADMIN_TOKEN", "admin token") or "").campaign(campaign)
    if as_json:
        console.print_json(data.model_dump_json())
        return
    table = Table(title=f"campaign {campaign}: agent budgets ${data.agent_usd_budget:.2f}, "
                        f"{data.agent_token_budget:,} tokens, {data.agent_compute_s_budget:.0f} s compute, "
                        f"{data.dev_budget} dev evals")
    for column in ("agent", "state", "LLM calls", "input tok", "output tok", "cached tok", "$", "compute s",
                   "dev evals", "submissions"):
        table.add_column(column, justify="left" if column in ("agent", "state") else "right")
    for a in data.agents:
        state = a.state + (f" ({a.stop_reason})" if a.stop_reason else "")
        table.add_row(a.name, state, str(a.llm_calls), f"{a.input_tokens:,}", f"{a.output_tokens:,}",
                      f"{a.cached_tokens:,}", f"{a.cost_usd:.4f}", f"{a.compute_s:.1f}",
                      str(a.dev_evals_used), str(a.submissions_used))
    console.print(table)


@app.command("transcript")
def transcript(
    path: Annotated[Path, typer.Argument(help="transcript.jsonl, or an agent folder")],
    tail: Annotated[int, typer.Option(min=0, help="only the last N entries (0: all)")] = 0,
    width: Annotated[int, typer.Option(min=40, help="characters of each result to show")] = 400,
) -> None:
    """Print an agent's transcript: messages, tool calls with arguments and results, timing and cost."""
    from aar.researchers.transcript import read

    file = path / "transcript.jsonl" if path.is_dir() else path
    if not file.is_file():
        raise AarError(f"no transcript at {file}")
    rows = read(file)
    for row in rows[-tail:] if tail else rows:
        head = f"[dim]#{row['seq']} {row['time'][11:19]}[/]"
        if row["type"] == "assistant":
            calls = ", ".join(c["name"] for c in row.get("tool_calls", [])) or "no tool call"
            console.print(f"{head} [bold]assistant[/] ${row.get('cost_usd', 0):.4f} "
                          f"{row['usage']['input_tokens']}+{row['usage']['output_tokens']} tok -> {calls}")
            if row.get("text"):
                console.print(f"    {row['text'][:width]}", highlight=False)
        elif row["type"] == "tool":
            flag = "[red]error[/]" if row["is_error"] else "ok"
            console.print(f"{head} [cyan]{row['name']}[/] {json.dumps(row['arguments'])[:width]} "
                          f"({row['seconds']:.2f} s, {flag})", highlight=False)
            console.print(f"    {row['result'][:width]}", highlight=False)
        else:
            detail = {k: v for k, v in row.items() if k not in ("seq", "time", "type", "system")}
            console.print(f"{head} [magenta]{row['type']}[/] {json.dumps(detail)[:width]}", highlight=False)


@app.command("mcp")
def mcp_server(
    server: ServerUrl,
    campaign: CampaignName,
    name: AgentName,
    directory: Annotated[Path, typer.Option("--dir", help="agent folder (workspace, notebook)")],
    task: TaskList = None,
    direction: Annotated[str, typer.Option(help="research direction for the brief (default: open)")] = "",
    token_file: AgentToken = None,
    unsafe_sandbox: UnsafeSandbox = False,
) -> None:
    """Serve the researcher tools over MCP (stdio) for Claude Code or any MCP client, with one agent's token.
    The brief (direction, tasks, methods, the method interface, budgets, rules) is the server's instructions,
    the `brief` prompt and the `aar://brief` resource."""
    import anyio

    from aar.methods.registry import available
    from aar.researchers.brief import render_brief
    from aar.researchers.mcp_server import serve_stdio
    from aar.researchers.runner import AgentConfig, campaign_policy, status_budgets, tool_context

    config = AgentConfig(server=server, campaign=campaign, agent=name, directory=directory, direction=direction,
                         token=_secret(token_file, "AAR_AGENT_TOKEN", "agent token") or "",
                         tasks=task or list(DEFAULT_TASKS), unsafe_sandbox=unsafe_sandbox)
    ctx = tool_context(config)
    methods = list(available())
    brief = render_brief(name, campaign, direction, ctx.task_info, methods, status_budgets(ctx.client),
                         campaign_policy(ctx.client))
    anyio.run(serve_stdio, ctx, brief, methods)


@app.command("call")
def call(
    tool: Annotated[str, typer.Argument(help="tool name (`status`, `list_files`, `run_experiment`, ...)")],
    arguments: Annotated[str, typer.Argument(help="the tool's arguments as a JSON object")] = "{}",
    server: ServerUrl = "http://127.0.0.1:8765",
    campaign: CampaignName = "",
    name: AgentName = "",
    directory: Annotated[Path, typer.Option("--dir", help="agent folder (workspace, notebook)")] = Path("."),
    task: TaskList = None,
    direction: Annotated[str, typer.Option(help="research direction for the brief (default: open)")] = "",
    token_file: AgentToken = None,
    unsafe_sandbox: UnsafeSandbox = False,
) -> None:
    """Call one researcher tool through `aar agent mcp` with the official MCP client and print its result
    (exit 1 if the tool answered with an error): the MCP surface from a shell, for scripts and checks."""
    import anyio

    try:
        parsed = json.loads(arguments)
    except ValueError as exc:
        raise AarError(f"arguments must be a JSON object: {exc}") from None
    if not isinstance(parsed, dict):
        raise AarError("arguments must be a JSON object")
    if not campaign or not name:
        raise AarError("--campaign and --name are required")
    token = _secret(token_file, "AAR_AGENT_TOKEN", "agent token") or ""
    args = ["-m", "aar.cli", "agent", "mcp", "--server", server, "--campaign", campaign, "--name", name,
            "--dir", str(directory), *(x for t in task or [] for x in ("--task", t))]
    if direction:
        args += ["--direction", direction]
    if unsafe_sandbox:
        args.append("--allow-unsandboxed")
    text, is_error = anyio.run(_call_over_mcp, args, token, tool, parsed)
    print(text)
    if is_error:
        raise typer.Exit(1)


async def _call_over_mcp(args: list[str], token: str, tool: str, arguments: dict) -> tuple[str, bool]:
    import sys

    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=args, env={**os.environ, "AAR_AGENT_TOKEN": token})
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        result = await session.call_tool(tool, arguments)
    text = "\n".join(c.text for c in result.content if hasattr(c, "text"))
    return text, bool(result.is_error)
