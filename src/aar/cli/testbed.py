"""`aar testbed check`: every testbed acceptance figure per task, with PASS or FAIL."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from aar.cli.common import AsJson, console, task_names
from aar.models.defaults import DEFAULT_WEAK

app = typer.Typer(help="Check that the testbed is a usable instrument (gap, power, leaks, privacy).",
                          no_args_is_help=True)


@app.command("check")
def check(
    task: Annotated[str, typer.Option(help="task name, comma list, or 'all' (the default CPU tasks)")] = "all",
    seeds: Annotated[int, typer.Option(min=2, max=20, help="seeds (0..N-1)")] = 5,
    weak: Annotated[str, typer.Option(help="weak model (see `aar models`)")] = DEFAULT_WEAK,
    strong: Annotated[str, typer.Option(help="strong model (see `aar models`); default: each task's")] = "",
    as_json: AsJson = False,
) -> None:
    """Print, per task, the acceptance figures: weak accuracy, gap, PGR power, phenomenon, headroom, methods
    that matter, dev signal, leak probes, privacy of test inputs and experiment speed. Exit 1 on any FAIL."""
    from aar.w2s.acceptance import check_task, phenomenon_across

    reports = []
    for name in task_names(task):
        with console.status(f"[bold]{name}[/]: measuring", spinner="dots"):
            reports.append(check_task(name, weak, strong, seeds))
    across = phenomenon_across(reports)
    passed = all(r.passed for r in reports) and across.passed
    if as_json:
        print(json.dumps({"passed": passed, "weak": weak, "strong": strong, "seeds": seeds,
                          "tasks": [r.as_json() for r in reports],
                          "across": {"name": across.name, "value": across.value, "passed": across.passed}}, indent=2))
    else:
        table = Table(title=f"testbed check: weak {weak} -> strong {strong or 'task default'}, {seeds} seeds, "
                            f"test split")
        for col in ("task", "check", "measured", "result"):
            table.add_column(col)
        for r in reports:
            for i, c in enumerate(r.checks):
                verdict = ("[green]PASS[/]" if c.passed else "[red]FAIL[/]" if c.required else "[yellow]no[/]")
                table.add_row(r.task if i == 0 else (r.pair if i == 1 else ""), c.name, c.value, verdict)
            table.add_section()
        table.add_row("all", across.name, across.value, "[green]PASS[/]" if across.passed else "[red]FAIL[/]")
        console.print(table)
        probes = Table(title="leak probes: test accuracy of each structural attack (majority class in parentheses)")
        probes.add_column("probe")
        for r in reports:
            probes.add_column(r.task, justify="right")
        names = sorted({p["probe"] for r in reports for p in r.leaks})
        for probe in names:
            cells = []
            for r in reports:
                hit = next((p for p in r.leaks if p["probe"] == probe), None)
                cells.append("-" if hit is None else f"{'[red]' if hit['leaks'] else ''}{hit['accuracy']:.3f} "
                             f"({hit['majority']:.3f}){'[/]' if hit['leaks'] else ''}")
            probes.add_row(probe, *cells)
        console.print(probes)
    raise typer.Exit(0 if passed else 1)
