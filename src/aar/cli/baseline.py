"""`aar baseline`: methods on the W2S testbed, as a Rich table per task or as JSON."""

from __future__ import annotations

import json
import math
from typing import Annotated

import typer
from rich.table import Table

from aar.cli.common import AsJson, TaskSpec, console, err_console, parse_params, task_names
from aar.models.defaults import DEFAULT_WEAK
from aar.results.intervals import format_interval


def baseline(
    task: TaskSpec = "all",
    method: Annotated[str, typer.Option(help="method name, comma list, 'all', or file.py:Class")] = "all",
    seeds: Annotated[int, typer.Option(min=1, max=100, help="number of seeds (0..N-1)")] = 5,
    param: Annotated[list[str] | None, typer.Option(help="method parameter key=value (repeatable)")] = None,
    weak: Annotated[str, typer.Option(help="weak model (see `aar models`, or hf:<model>)")] = DEFAULT_WEAK,
    strong: Annotated[str, typer.Option(help="strong model (see `aar models`, or hf:<model>); default: the "
                                        "task's default")] = "",
    split: Annotated[str, typer.Option(help="evaluation split: test or dev")] = "test",
    as_json: AsJson = False,
) -> None:
    """Run methods on the W2S testbed: weak, ceiling, student accuracy and PGR with 95% CIs."""
    from aar.w2s.baselines import run_baselines

    with (err_console if as_json else console).status("[bold]baselines[/]", spinner="dots") as status:
        tables = run_baselines(task_names(task), method, list(range(seeds)), parse_params(param or []), weak,
                               strong, split, progress=lambda text: status.update(f"[bold]{text}[/]"))
    if as_json:
        print(json.dumps([row for t in tables for row in t.as_json()], indent=2))
        return
    for t in tables:
        head = t.head
        text = (f"[bold]{t.task}[/] ({t.format}, {t.split} n={head.items}, seeds={seeds})\n"
                f"  weak {t.weak} acc {format_interval(head.weak_acc, 3)}\n"
                f"  ceiling {t.strong} acc {format_interval(head.ceiling_acc, 3)}\n"
                f"  gap {head.ceiling_acc.mean - head.weak_acc.mean:+.3f}")
        if not t.gap_is_real:
            text += ("\n  [yellow]warning: the ceiling does not beat the weak teacher (95% CIs overlap); "
                     "PGR divides by a gap near zero and is not meaningful for this pair[/]")
        table = Table()
        for col in ("method", "student acc [95% CI]", "PGR [95% CI]", "ΔPGR vs vanilla", "p vs vanilla",
                    "detectable at p<0.01"):
            table.add_column(col, justify="right" if col != "method" else "left")
        for row in t.rows:
            table.add_row(row.method, format_interval(row.summary.student_acc, 3),
                          format_interval(row.summary.pgr), f"{row.diff_vs_vanilla.mean:+.3f}",
                          "-" if row.p_vs_vanilla is None else f"{row.p_vs_vanilla:.3g}",
                          f"{row.detectable:.3f}" if math.isfinite(row.detectable) else "-")
        console.print(text, highlight=False)
        console.print(table)
