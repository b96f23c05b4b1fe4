"""The campaign's headline as a Rich table, for `aar run` (at the end) and `aar report`."""

from __future__ import annotations

from rich.table import Table

from aar.results.campaign import CampaignResults
from aar.results.intervals import format_interval, format_p


def campaign_table(result: CampaignResults) -> Table:
    table = Table(title=f"campaign {result.campaign}: ${result.cost_usd:.2f}, {result.wall_s / 60:.1f} min, "
                        f"{result.dev_evaluations} dev evaluations")
    for column in ("task", "vanilla PGR [95% CI]", "best verified PGR [95% CI]", "p vs vanilla", "Holm p",
                   "dev-test gap", "by"):
        table.add_column(column)
    for task, row in result.tasks.items():
        best = row.best
        if best is None:
            table.add_row(task, format_interval(row.vanilla_pgr), "none verified", "-", "-", "-", "-")
            continue
        table.add_row(task, format_interval(row.vanilla_pgr), format_interval(best.pgr), format_p(best.p_vs_vanilla),
                      format_p(best.p_holm), f"{best.dev_test_gap:+.2f}", best.agent)
    return table
