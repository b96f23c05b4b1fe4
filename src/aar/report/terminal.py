"""The campaign's headline as a Rich table, for `aar run` (at the end) and `aar report`: per task the best
weak-to-strong result, and on a row of its own the best zero-shot one (most of its gain survives without the
teacher), each with its class and the part of its PGR that needs the teacher."""

from __future__ import annotations

from rich.table import Table

from aar.results.attribution import ATTRIBUTION_SEEDS
from aar.results.campaign import CampaignResults
from aar.results.intervals import format_interval, format_p


def campaign_table(result: CampaignResults) -> Table:
    table = Table(title=f"campaign {result.campaign}: ${result.cost_usd:.2f}, {result.wall_s / 60:.1f} min, "
                        f"{result.dev_evaluations} dev evaluations")
    for column in ("task", "class", "vanilla PGR [95% CI]", "best verified PGR [95% CI]",
                   f"teacher-dependent PGR [95% CI] (first {ATTRIBUTION_SEEDS} seeds)", "p vs vanilla",
                   "detectable at p<0.01", "Holm p", "p vs soft",
                   "dev-test gap", "by"):
        table.add_column(column)
    for task, row in result.tasks.items():
        vanilla = format_interval(row.vanilla_pgr)
        if row.best is None:  # no weak-to-strong result: say so, even when a zero-shot one follows
            table.add_row(task, "w2s", vanilla, "none verified", "-", "-", "-", "-", "-", "-", "-")
        for best, label in ((row.best, ""), (row.best_new, " (new)"), (row.best_zero_shot, "")):
            if best is not None:
                teacher = format_interval(best.teacher_pgr_interval) if best.teacher_pgr is not None else "-"
                table.add_row(task, best.attribution_class + label, vanilla, format_interval(best.pgr), teacher,
                              format_p(best.p_vs_vanilla),
                              "-" if best.detectable is None else f"{best.detectable:.2f}",
                              format_p(best.p_holm), format_p(best.p_vs_soft),
                              f"{best.dev_test_gap:+.2f}",
                              best.by)
    return table
