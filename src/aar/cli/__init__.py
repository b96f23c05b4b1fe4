"""The ``aar`` command line: one module per command group, registered here in one place.

Every user mistake ends as one ``error:`` line on stderr and exit status 2 (:func:`main`); commands raise
:class:`aar.errors.AarError` for them and never print tracebacks for bad input."""

from __future__ import annotations

import os
import sys

import typer
import typer.rich_utils

from aar.cli import admin, agent, baseline, campaign, catalog, data, integrity, serve, testbed
from aar.cli.common import err_console
from aar.errors import AarError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

if not sys.stdout.isatty() and typer.rich_utils.MAX_WIDTH is None:  # --help in a pipe or log: whole option names
    typer.rich_utils.MAX_WIDTH = 160

app = typer.Typer(help="Automated alignment research on weak-to-strong supervision.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
app.add_typer(data.app, name="data")
app.add_typer(agent.app, name="agent")
app.add_typer(admin.campaign_app, name="campaign")
agent.app.command("add")(admin.add_agent)
agent.app.command("list")(admin.list_agents)
app.add_typer(integrity.app, name="integrity")
app.add_typer(testbed.app, name="testbed")
app.command("methods")(catalog.methods_list)
app.command("models")(catalog.models_list)
app.command("run")(campaign.run_cmd)
app.command("transfer")(campaign.transfer_cmd)
app.command("report")(campaign.report_cmd)
app.command("baseline")(baseline.baseline)
app.command("serve")(serve.serve)
app.command("worker")(serve.worker)


def main() -> None:
    try:
        app()
    except AarError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]")
        sys.exit(130)
