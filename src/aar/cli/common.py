"""What every command group shares: the consoles, option types declared once, argument parsing and the checks
that must fail before anything starts (sandbox, Ray cluster, database URL)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aar.errors import AarError
from aar.execution_settings import ExecutionSettings
from aar.report.console import output_console

console = output_console()  # whole tables in pipes and logs (aar.report.console)
err_console = output_console(stderr=True)

AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output")]
TaskSpec = Annotated[str, typer.Option(help="task name, comma list, or 'all'")]
TaskList = Annotated[list[str] | None, typer.Option(help="task (repeatable; default all three)")]
UnsafeSandbox = Annotated[bool, typer.Option(
    "--allow-unsandboxed", "--unsafe-sandbox",
    help="where bubblewrap is missing, run agent and method code without a sandbox instead of refusing (no "
         "isolation: trusted code only; --unsafe-sandbox is the old, deprecated name)")]
Executor = Annotated[str, typer.Option(help="where verification (and experiments) run: local | ray")]
RayAddress = Annotated[str | None, typer.Option(help="Ray cluster address for --executor ray "
                                                "(e.g. 10.0.0.5:6379, or 'auto')")]
# A database URL may hold a password: it can come from the environment (AAR_DB_URL), which other users of the
# machine cannot read the way they read a command line; aar's own children get it that way.
ServerDb = Annotated[str | None, typer.Option(envvar="AAR_DB_URL", show_envvar=True,
                                              help="database URL (default sqlite:///<AAR_HOME>/aar.db)")]
CampaignDb = Annotated[str | None, typer.Option(envvar="AAR_DB_URL", show_envvar=True,
                                                help="the campaign's database URL (default: from its folder)")]
ServerUrl = Annotated[str, typer.Option(help="evaluation server URL")]
CampaignName = Annotated[str, typer.Option(help="campaign name")]
AgentName = Annotated[str, typer.Option(help="agent name (as created on the server)")]
AgentToken = Annotated[Path | None, typer.Option(help="file with the agent token (or AAR_AGENT_TOKEN)")]
Campaign = Annotated[str, typer.Argument(help="campaign name (under AAR_HOME/campaigns)")]


def task_names(spec: str) -> list[str]:
    """``all`` (the default tasks), one name, or a comma list."""
    from aar.tasks import DEFAULT_TASKS

    names = list(DEFAULT_TASKS) if spec == "all" else [t.strip() for t in spec.split(",") if t.strip()]
    if not names:
        raise AarError(f"no task in {spec!r}")
    return names


def parse_params(values: list[str]) -> dict[str, str]:
    params = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise AarError(f"--param {item!r}: expected key=value")
        params[key.strip()] = value.strip()
    return params


def resolve_ray_address(executor: str, address: str | None) -> str | None:
    """Validate the executor choice and check the cluster is reachable before anything starts."""
    if executor not in ("local", "ray"):
        raise AarError(f"--executor must be local or ray, not {executor!r}")
    if executor == "local":
        if address:
            raise AarError("--ray-address needs --executor ray")
        return None
    if not address:
        raise AarError("--executor ray needs --ray-address (the head node's host:port, or 'auto')")
    from aar.execution.ray import connect

    connect(address)
    return address


def sandbox_mode(unsafe: bool, ray_address: str | None = None) -> ExecutionSettings:
    """The execution settings of this command; fails fast when agent code could not be sandboxed. They are
    passed on explicitly (to executors, and to child processes as flags or their environment), never written
    into this process's environment."""
    from aar.sandbox.runner import default_sandbox

    settings = ExecutionSettings(ray_address=ray_address, allow_unsandboxed=unsafe)
    default_sandbox(settings)  # raises with instructions when bubblewrap is missing and unsafe was not asked for
    return settings


def migrated_db(db: str | None) -> str:
    """The server database's URL (default: SQLite in AAR_HOME), migrated to the newest schema."""
    from aar import paths
    from aar.server.db import upgrade

    paths.home().mkdir(parents=True, exist_ok=True)
    url = db or f"sqlite:///{paths.home() / 'aar.db'}"
    upgrade(url)
    return url
