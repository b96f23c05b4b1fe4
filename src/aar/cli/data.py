"""`aar data build|info|import|export`: the task datasets, built from registry packages or imported."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from aar.cli.common import AsJson, console, task_names
from aar.tasks.schema import SPLITS

app = typer.Typer(help="Build, inspect, import and export task datasets.", no_args_is_help=True)


@app.command("build")
def data_build(task: Annotated[str, typer.Argument(help="task name, comma list, or 'all'")] = "all",
               force: Annotated[bool, typer.Option(help="rebuild even if stored")] = False) -> None:
    """Build tasks from their registry packages (code candidates are executed against their tests)."""
    from aar.tasks import build_task

    for name in task_names(task):
        start = time.perf_counter()
        built = build_task(name, force=force)
        counts = ", ".join(f"{s}={len(v)}" for s, v in built.splits.items())
        console.print(f"[green]built[/] {name}: {counts} ({time.perf_counter() - start:.1f}s, "
                      f"hash {built.content_hash[:12]})")


@app.command("info")
def data_info(task: Annotated[str, typer.Argument(help="task name, comma list, or 'all'")] = "all",
              as_json: AsJson = False) -> None:
    """Show each task's source package, license, split sizes and content hash."""
    from aar.tasks.registry import manifest

    rows = [manifest(name) for name in task_names(task)]
    for row in rows:
        row.pop("class_prior", None)  # label statistics stay with the server
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="aar tasks")
    split_columns = SPLITS
    for col in ("task", "format", "source", "license", *split_columns, "hash"):
        table.add_column(col)
    for m in rows:
        src = m["source"]
        table.add_row(m["name"], m["format"], f"{src.get('package')} {src.get('version', '')}".strip(),
                      src.get("license", ""), *(str(m["counts"][s]) for s in split_columns),
                      m["content_hash"][:12])
    console.print(table)


@app.command("import")
def data_import(name: Annotated[str, typer.Argument(help="new task name")],
                directory: Annotated[Path, typer.Argument(help="folder with train_label/train_unlabel/test.jsonl")]
                ) -> None:
    """Import a dataset in the reference JSONL layout as a new task."""
    from aar.tasks import import_reference

    task = import_reference(name, directory)
    console.print(f"[green]imported[/] {name} ({task.format}): "
                  + ", ".join(f"{s}={len(v)}" for s, v in task.splits.items()))


@app.command("export")
def data_export(task: Annotated[str, typer.Argument(help="task name")],
                directory: Annotated[Path, typer.Argument(help="output folder")]) -> None:
    """Write a task in the reference JSONL layout (with labels: this is admin data)."""
    from aar.tasks import SPLITS, load_task
    from aar.tasks.jsonl import write_jsonl

    loaded = load_task(task)
    for split in SPLITS:
        write_jsonl(directory / f"{split}.jsonl", loaded.splits[split])
    console.print(f"[green]wrote[/] {', '.join(f'{s}.jsonl' for s in SPLITS)} to {directory}")
