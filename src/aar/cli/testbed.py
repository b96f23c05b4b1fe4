"""`aar testbed check`: every testbed acceptance figure per task, with PASS or FAIL."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from aar.cli.common import AsJson, console, err_console, task_names
from aar.models.defaults import DEFAULT_WEAK

if TYPE_CHECKING:
    from aar.w2s.acceptance import Check, TaskReport

app = typer.Typer(help="Check that the testbed is a usable instrument (gap, power, leaks, privacy).",
                          no_args_is_help=True)


@app.command("check")
def check(
    task: Annotated[str, typer.Option(help="task name, comma list, or 'all' (the default CPU tasks)")] = "all",
    seeds: Annotated[int, typer.Option(min=2, max=50, help="seeds (0..N-1)")] = 5,
    weak: Annotated[str, typer.Option(help="weak model (see `aar models`)")] = DEFAULT_WEAK,
    strong: Annotated[str, typer.Option(help="strong model (see `aar models`); default: each task's")] = "",
    keys: Annotated[int, typer.Option(min=0, max=10, help="also check N fresh installation keys, each in a "
                                                          "scratch installation (this one's keys and data stay "
                                                          "untouched): every check must hold on every key")] = 0,
    as_json: AsJson = False,
) -> None:
    """Print, per task, the acceptance figures: weak accuracy, gap, PGR power, phenomenon, headroom, methods
    that matter and the smallest detectable effect, whether the teacher matters (a shuffled teacher), dev signal,
    leak probes, privacy of test inputs and experiment speed. With --keys N the same on N fresh installation
    keys, and a table of every check on every key. Exit 1 on any FAIL."""
    from aar.w2s.acceptance import check_fresh_keys, check_task, phenomenon_across, refuse_imported

    names = task_names(task)
    if keys:
        refuse_imported(names)  # before an hour of measuring, not after
    spinner = err_console if as_json else console  # --json: stdout holds the JSON and nothing else
    reports = []
    for name in names:
        with spinner.status(f"[bold]{name}[/]: measuring", spinner="dots"):
            reports.append(check_task(name, weak, strong, seeds))
    with spinner.status("fresh keys", spinner="dots") as status:
        fresh = check_fresh_keys(names, weak, strong, seeds, keys,
                                 on_key=lambda k: status.update(f"[bold]fresh key {k + 1} of {keys}[/]: measuring"))
    installations = [("this installation", reports)] + [(f"fresh key {k + 1}", r) for k, r in enumerate(fresh)]
    verdicts = [(label, rs, phenomenon_across(rs)) for label, rs in installations]
    passed = all(all(r.passed for r in rs) and across.passed for _, rs, across in verdicts)
    if as_json:
        print(json.dumps({"passed": passed, "weak": weak, "strong": strong, "seeds": seeds,
                          "tasks": [r.as_json() for r in reports],
                          "across": _across_json(verdicts[0][2]),
                          "fresh_keys": [{"key": label, "passed": all(r.passed for r in rs) and across.passed,
                                          "tasks": [r.as_json() for r in rs], "across": _across_json(across)}
                                         for label, rs, across in verdicts[1:]]}, indent=2))
        raise typer.Exit(0 if passed else 1)
    for label, rs, across in verdicts:
        _print_reports(f"testbed check ({label}): weak {weak} -> strong {strong or 'task default'}, {seeds} seeds, "
                       f"test split", rs, across)
    if keys:
        _print_every_key(verdicts)
    raise typer.Exit(0 if passed else 1)


def _across_json(across: Check) -> dict:
    return {"name": across.name, "value": across.value, "passed": across.passed}


def _mark(passed: bool, required: bool = True) -> str:
    return "[green]PASS[/]" if passed else "[red]FAIL[/]" if required else "[yellow]no[/]"


def _verdict(c: Check) -> str:
    return _mark(c.passed, c.required)


def _print_reports(title: str, reports: list[TaskReport], across: Check) -> None:
    table = Table(title=title)
    for col in ("task", "check", "measured", "result"):
        table.add_column(col)
    for r in reports:
        for i, c in enumerate(r.checks):
            table.add_row(r.task if i == 0 else (r.pair if i == 1 else ""), c.name, c.value, _verdict(c))
        table.add_section()
    table.add_row("all", across.name, across.value, _verdict(across))
    console.print(table)
    probes = Table(title="leak probes: test accuracy of each structural attack (majority class in parentheses)")
    probes.add_column("probe")
    for r in reports:
        probes.add_column(r.task, justify="right")
    for probe in sorted({p["probe"] for r in reports for p in r.leaks}):
        cells = []
        for r in reports:
            hit = next((p for p in r.leaks if p["probe"] == probe), None)
            cells.append("-" if hit is None else f"{'[red]' if hit['leaks'] else ''}{hit['accuracy']:.3f} "
                         f"({hit['majority']:.3f}){'[/]' if hit['leaks'] else ''}")
        probes.add_row(probe, *cells)
    console.print(probes)


def _print_every_key(verdicts: list[tuple[str, list[TaskReport], Check]]) -> None:
    """One row per task and check, one column per key, and whether it held on every fresh key."""
    table = Table(title="every check on every key (details in the tables above)")
    table.add_column("task")
    table.add_column("check")
    for label, _, _ in verdicts:
        table.add_column(label)
    table.add_column("all fresh keys")
    for t, report in enumerate(verdicts[0][1]):
        for i, c in enumerate(report.checks):
            row = [rs[t].checks[i] for _, rs, _ in verdicts]
            table.add_row(report.task if i == 0 else "", c.name, *(_verdict(x) for x in row),
                          _mark(all(x.passed for x in row[1:]), c.required))
        table.add_section()
    across = [a for _, _, a in verdicts]
    table.add_row("all", across[0].name, *(_verdict(a) for a in across),
                  _mark(all(a.passed for a in across[1:])))
    console.print(table)
