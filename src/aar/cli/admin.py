"""Admin commands against a running evaluation server: create a campaign, add an agent (its token written
once, mode 0600), list a campaign's agents. What the README's Claude Code section did with raw ``curl`` calls.
The admin token comes from ``AAR_ADMIN_TOKEN`` or ``--admin-token-file``, never from the command line."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from aar.cli.common import console
from aar.errors import AarError

if TYPE_CHECKING:
    from aar.campaign.admin_client import AdminClient

campaign_app = typer.Typer(help="Create campaigns on a running server (admin).", no_args_is_help=True)
ServerOpt = Annotated[str, typer.Option(help="evaluation server URL")]
AdminTokenFile = Annotated[Path | None, typer.Option(help="file holding the admin token (else AAR_ADMIN_TOKEN)")]


def _admin(server: str, token_file: Path | None) -> AdminClient:
    from aar.campaign.admin_client import AdminClient

    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as exc:
            raise AarError(f"cannot read the admin token from {token_file}: {exc.strerror}") from None
    else:
        token = os.environ.get("AAR_ADMIN_TOKEN", "")
    if not token:
        raise AarError("no admin token: set AAR_ADMIN_TOKEN or pass --admin-token-file")
    return AdminClient(server.rstrip("/"), token)


@campaign_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="campaign name (lowercase letters, digits, - and _)")],
    server: ServerOpt = "http://127.0.0.1:8765",
    dev_budget: Annotated[int, typer.Option(min=0, help="dev evaluations per agent")] = 50,
    submit_budget: Annotated[int, typer.Option(min=0, help="submissions per agent")] = 10,
    verify_seeds: Annotated[int, typer.Option(min=1, max=50, help="secret seeds each submission is verified on")] = 5,
    compute_hours: Annotated[float, typer.Option(min=0, help="experiment compute per agent, hours")] = 2.0,
    allow_zero_shot: Annotated[bool, typer.Option(help="rank zero-shot results (listed apart)")] = True,
    allow_text_reading: Annotated[bool, typer.Option(help="rank results that read the raw text")] = False,
    continue_from: Annotated[str | None, typer.Option(help="an earlier campaign on this server: its best "
                                                      "verified methods (re-verified here, the bar to beat) and "
                                                      "its forum start this one")] = None,
    admin_token_file: AdminTokenFile = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a campaign with its budgets and attribution policy."""
    client = _admin(server, admin_token_file)
    created = client.create({
        "name": name, "dev_budget": dev_budget, "submit_budget": submit_budget,
        "verify_seeds": list(range(1000, 1000 + verify_seeds)), "agent_compute_s_budget": compute_hours * 3600,
        "allow_zero_shot": allow_zero_shot, "allow_text_reading": allow_text_reading})
    got = client.inherit(name, client.heritage(continue_from)) if continue_from else None
    if as_json:
        print(json.dumps(created.model_dump(mode="json")
                         | ({"inherited": got.model_dump(mode="json", exclude={"campaign"})} if got else {})))
        return
    console.print(f"campaign [bold]{name}[/] created: {dev_budget} dev evaluations and {submit_budget} "
                  f"submissions per agent, {verify_seeds} verification seeds, {compute_hours:g} h compute")
    if got is not None:
        console.print(f"inherited from {continue_from}: {got.methods} verified method(s), queued for "
                      f"re-verification here, and {got.posts} forum post(s)")


def add_agent(
    campaign: Annotated[str, typer.Argument(help="campaign name")],
    name: Annotated[str, typer.Argument(help="agent name")],
    server: ServerOpt = "http://127.0.0.1:8765",
    token_file: Annotated[Path | None, typer.Option(help="write the agent token here (mode 0600) instead of "
                                                          "printing it")] = None,
    admin_token_file: AdminTokenFile = None,
) -> None:
    """Add an agent to a campaign. Its token is shown once: printed, or written to --token-file (0600)."""
    token = _admin(server, admin_token_file).create_agent(campaign, name)
    if token_file is None:
        print(token)
        return
    try:
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AarError(f"{token_file} exists; the new token is not written over it (the agent was created: "
                       f"its token is lost, add another agent)") from None
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    console.print(f"agent [bold]{name}[/] of {campaign}: token written to {token_file} (mode 0600)")


def list_agents(
    campaign: Annotated[str, typer.Argument(help="campaign name")],
    server: ServerOpt = "http://127.0.0.1:8765",
    admin_token_file: AdminTokenFile = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A campaign's agents: state, last seen, dev evaluations, submissions, compute."""
    agents = _admin(server, admin_token_file).agents(campaign)
    if as_json:
        print(json.dumps([a.model_dump(mode="json") for a in agents]))
        return
    table = Table(title=f"campaign {campaign}: {len(agents)} agent(s)")
    for column in ("agent", "state", "last seen", "dev evals", "submissions", "compute s"):
        table.add_column(column)
    for a in agents:
        table.add_row(a.name, a.state, (a.last_seen or "-")[:19], str(a.dev_evals_used), str(a.submissions_used),
                      f"{a.compute_s:.0f}")
    console.print(table)
