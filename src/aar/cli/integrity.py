"""`aar integrity scan|review`: find evaluation gaming in a campaign and decide on what was flagged."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from aar.cli.common import CampaignDb, console

app = typer.Typer(help="Detect evaluation gaming; quarantine and review flagged submissions.",
                            no_args_is_help=True)


def _open(campaign: str, db: str | None):
    """The campaign's database and row (aar.server.db.open_campaign), from its folder unless ``--db`` says."""
    from aar.campaign.spec import CampaignSpec
    from aar.server.db import open_campaign

    return open_campaign(db or CampaignSpec.load(campaign).db_url(), campaign)


def findings_table(rows, title: str) -> Table:
    table = Table(title=title)
    for column in ("id", "severity", "detector", "agent", "submission", "review", "summary"):
        table.add_column(column, overflow="fold")
    for row, agent in rows:
        table.add_row(str(row.id), row.severity, row.detector, agent, str(row.submission_id or "–"),
                      row.review or "open", row.summary)
    return table


def _rows(session, campaign):
    from aar.server.models import Agent, IntegrityFinding

    return session.execute(select(IntegrityFinding, Agent.name).join(Agent, Agent.id == IntegrityFinding.agent_id)
                           .where(IntegrityFinding.campaign_id == campaign.id)
                           .order_by(IntegrityFinding.severity, IntegrityFinding.id)).all()


@app.command("scan")
def scan_cmd(
    campaign: Annotated[str, typer.Argument(help="campaign name")],
    db: CampaignDb = None,
    ablation: Annotated[bool, typer.Option(help="re-run the top methods with a shuffled teacher")] = True,
    ablate_top: Annotated[int, typer.Option(min=1, max=1000, help="per task, how many of the best unflagged "
                                            "submissions get the teacher ablation")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Run every detector, store the findings and quarantine flagged submissions until reviewed."""
    from aar.integrity.scan import scan

    with _open(campaign, db) as (session, row):
        findings, counts = scan(session, row, ablation=ablation, ablate_top=ablate_top)
        if as_json:
            print(json.dumps({"counts": counts, "findings": [vars(f) for f in findings]}, default=str))
            return
        console.print(findings_table(_rows(session, row), f"integrity findings of {campaign}"))
        console.print(f"{counts['findings']} findings ({counts['new']} new); quarantined submissions: "
                      f"{counts['quarantined'] or 'none'}")


@app.command("review")
def review_cmd(
    campaign: Annotated[str, typer.Argument(help="campaign name")],
    clear: Annotated[list[int] | None, typer.Option(help="finding id to clear (a false alarm); repeatable")] = None,
    confirm: Annotated[list[int] | None, typer.Option(help="finding id to confirm (stays quarantined)")] = None,
    db: CampaignDb = None,
) -> None:
    """List findings; clear or confirm them. A submission leaves quarantine when all its findings are cleared."""
    from aar.integrity.scan import review

    with _open(campaign, db) as (session, row):
        for finding_id in clear or []:
            review(session, row, finding_id, "cleared")
        for finding_id in confirm or []:
            review(session, row, finding_id, "confirmed")
        console.print(findings_table(_rows(session, row), f"integrity findings of {campaign}"))
