"""The ``aar`` command line. Every user mistake ends as one ``error:`` line and exit status 2."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aar.cli_agent import agent_app
from aar.cli_integrity import integrity_app
from aar.cli_testbed import testbed_app
from aar.errors import AarError
from aar.models.defaults import DEFAULT_STRONG, DEFAULT_WEAK, STRONG_BY_TASK

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

app = typer.Typer(help="Automated alignment research on weak-to-strong supervision.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
data_app = typer.Typer(help="Build, inspect, import and export task datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(agent_app, name="agent")
app.add_typer(integrity_app, name="integrity")
app.add_typer(testbed_app, name="testbed")

console = Console()
err_console = Console(stderr=True)


def _tasks(task: str) -> list[str]:
    from aar.tasks import DEFAULT_TASKS

    return list(DEFAULT_TASKS) if task == "all" else [t.strip() for t in task.split(",") if t.strip()]


def _parse_params(values: list[str]) -> dict[str, str]:
    params = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise AarError(f"--param {item!r}: expected key=value")
        params[key.strip()] = value.strip()
    return params


@data_app.command("build")
def data_build(task: Annotated[str, typer.Argument(help="task name, comma list, or 'all'")] = "all",
               force: Annotated[bool, typer.Option(help="rebuild even if stored")] = False) -> None:
    """Build tasks from their registry packages (code candidates are executed against their tests)."""
    from aar.tasks import build_task

    for name in _tasks(task):
        start = time.perf_counter()
        built = build_task(name, force=force)
        counts = ", ".join(f"{s}={len(v)}" for s, v in built.splits.items())
        console.print(f"[green]built[/] {name}: {counts} ({time.perf_counter() - start:.1f}s, "
                      f"hash {built.content_hash[:12]})")


@data_app.command("info")
def data_info(task: Annotated[str, typer.Argument(help="task name, comma list, or 'all'")] = "all",
              as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False) -> None:
    """Show each task's source package, license, split sizes and content hash."""
    from aar.tasks.registry import manifest

    rows = [manifest(name) for name in _tasks(task)]
    for row in rows:
        row.pop("class_prior", None)  # label statistics stay with the server
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="aar tasks")
    split_columns = ("train_label", "train_unlabel", "dev", "test", "holdout")
    for col in ("task", "format", "source", "license", *split_columns, "hash"):
        table.add_column(col)
    for m in rows:
        src = m["source"]
        table.add_row(m["name"], m["format"], f"{src.get('package')} {src.get('version', '')}".strip(),
                      src.get("license", ""), *(str(m["counts"][s]) for s in split_columns),
                      m["content_hash"][:12])
    console.print(table)


@data_app.command("import")
def data_import(name: Annotated[str, typer.Argument(help="new task name")],
                directory: Annotated[Path, typer.Argument(help="folder with train_label/train_unlabel/test.jsonl")]
                ) -> None:
    """Import a dataset in the reference JSONL layout as a new task."""
    from aar.tasks import import_reference

    task = import_reference(name, directory)
    console.print(f"[green]imported[/] {name} ({task.format}): "
                  + ", ".join(f"{s}={len(v)}" for s, v in task.splits.items()))


@data_app.command("export")
def data_export(task: Annotated[str, typer.Argument(help="task name")],
                directory: Annotated[Path, typer.Argument(help="output folder")]) -> None:
    """Write a task in the reference JSONL layout (with labels: this is admin data)."""
    from aar.tasks import SPLITS, load_task
    from aar.tasks.jsonl import write_jsonl

    loaded = load_task(task)
    for split in SPLITS:
        write_jsonl(directory / f"{split}.jsonl", loaded.splits[split])
    console.print(f"[green]wrote[/] {', '.join(f'{s}.jsonl' for s in SPLITS)} to {directory}")


@app.command("methods")
def methods_list() -> None:
    """List available methods and their parameters."""
    from aar.methods import available

    table = Table(title="methods")
    for col in ("name", "summary", "formats", "parameters"):
        table.add_column(col)
    for name, cls in available().items():
        table.add_row(name, cls.summary, ",".join(cls.formats),
                      ", ".join(f"{k}={v}" for k, v in cls.defaults.items()))
    console.print(table)


@app.command("models")
def models_list() -> None:
    """List the CPU models (packaged encoder + head) and the GPU path's spec."""
    from aar.models.base import MODELS

    table = Table(title="models")
    for col in ("name", "encoder", "head", "role"):
        table.add_column(col)
    for name, (encoders, head) in MODELS.items():
        tasks = [t for t, m in STRONG_BY_TASK.items() if m == name]
        role = ("default weak" if name == DEFAULT_WEAK else "default strong" if name == DEFAULT_STRONG
                else f"default strong on {', '.join(tasks)}" if tasks else "")
        table.add_row(name, " + ".join(encoders), f"MLP {head.hidden}" if head.hidden else "linear", role)
    table.add_row("hf:<id or path>[#f.gguf]", "causal LM", "LoRA + label-token readout", "GPU path")
    console.print(table)


@app.command("run")
def run_cmd(
    name: Annotated[str | None, typer.Option(help="campaign name (default run-<date>-<time>)")] = None,
    resume: Annotated[str | None, typer.Option(help="resume this campaign after a crash or kill")] = None,
    agents: Annotated[int, typer.Option(min=1, max=64, help="researchers in parallel")] = 4,
    task: Annotated[list[str] | None, typer.Option(help="task (repeatable; default all three)")] = None,
    backend: Annotated[str, typer.Option(help="heuristic | anthropic | openai")] = "heuristic",
    model: Annotated[str | None, typer.Option(help="LLM model name")] = None,
    base_url: Annotated[str | None, typer.Option(help="LLM API base URL")] = None,
    directions: Annotated[Path | None, typer.Option(help="file with one research direction per line")] = None,
    direction_detail: Annotated[str, typer.Option(help="vague | specific")] = "vague",
    dev_evals: Annotated[int, typer.Option(min=1, help="dev evaluations per researcher")] = 24,
    submit_budget: Annotated[int, typer.Option(min=1, help="submissions per researcher")] = 6,
    verify_seeds: Annotated[int, typer.Option(min=1, max=50, help="seeds of the final verification")] = 5,
    wall_minutes: Annotated[float, typer.Option(min=0.5, help="wall time per researcher")] = 60,
    seed: Annotated[int, typer.Option()] = 0,
    db: Annotated[str | None, typer.Option(help="database URL (default SQLite in the campaign folder)")] = None,
    workers: Annotated[int | None, typer.Option(min=1, max=64, help="verification workers (default: up to 2, "
                                                "one per core)")] = None,
    unsafe_sandbox: Annotated[bool, typer.Option(help="run agent code without bubblewrap (UNSAFE)")] = False,
    executor: Annotated[str, typer.Option(help="where verification (and experiments) run: local | ray")] = "local",
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address for --executor ray "
                                                    "(e.g. 10.0.0.5:6379, or 'auto')")] = None,
    transfer: Annotated[bool, typer.Option(help="run the transfer gauntlet at the end (`aar transfer`)")] = True,
    transfer_top_k: Annotated[int, typer.Option(min=0, help="verified methods per task in the gauntlet")] = 1,
    transfer_seeds: Annotated[int, typer.Option(min=1, max=50, help="fresh seeds of the gauntlet")] = 5,
) -> None:
    """Run a whole research campaign: server, researchers in parallel, verification, corrected results,
    then the transfer gauntlet (unless --no-transfer)."""
    import time as _time

    from aar.campaign.directions import DIRECTIONS, draw, load_directions
    from aar.campaign.orchestrator import CampaignSpec, run_campaign
    from aar.tasks import load_task

    _sandbox_mode(unsafe_sandbox)
    if direction_detail not in ("vague", "specific"):
        raise AarError("--direction-detail must be vague or specific")
    if backend not in ("heuristic", "anthropic", "openai"):
        raise AarError(f"unknown backend {backend!r}; use heuristic, anthropic or openai")
    address = _ray_address(executor, ray_address)
    if resume:
        spec = CampaignSpec.load(resume)
        result = run_campaign(spec, resume=True, console=console)
    else:
        campaign_name = name or _time.strftime("run-%Y%m%d-%H%M%S")
        if (CampaignSpec(name=campaign_name).folder() / "spec.json").exists():
            raise AarError(f"campaign {campaign_name!r} exists; resume it with `aar run --resume {campaign_name}`")
        pool = load_directions(directions) if directions else DIRECTIONS
        tasks = task or ["chat", "math", "code"]
        for t in tasks:
            load_task(t)  # build missing tasks now, with a clear error for unknown names
        spec = CampaignSpec(name=campaign_name, agents=agents, tasks=tasks,
                            backend=backend, model=model, base_url=base_url, detail=direction_detail,
                            dev_evals=dev_evals, submit_budget=submit_budget,
                            verify_seeds=list(range(1000, 1000 + verify_seeds)), wall_minutes=wall_minutes,
                            seed=seed, db=db, unsafe_sandbox=unsafe_sandbox, ray_address=address,
                            transfer=transfer, transfer_top_k=transfer_top_k, transfer_seeds=transfer_seeds)
        if workers:
            spec.workers = workers
        if directions:
            spec.directions = [{"key": d.key, "text": d.text(direction_detail)} for d in draw(pool, agents, seed)]
        result = run_campaign(spec, console=console)
    console.print(f"results: {spec.folder() / 'results.json'} (total ${result['cost_usd']:.2f})")


@app.command("transfer")
def transfer_cmd(
    campaign: Annotated[str, typer.Argument(help="campaign name")],
    top_k: Annotated[int, typer.Option(min=0, max=50, help="verified methods per task")] = 2,
    baseline: Annotated[list[str] | None, typer.Option(help="built-in baseline (repeatable; vanilla is always "
                                                       "in; default vanilla, aux_conf, confident)")] = None,
    seeds: Annotated[int, typer.Option(min=1, max=50, help="fresh seeds (2000, 2001, ...)")] = 5,
    pair: Annotated[list[str] | None, typer.Option(help="held-out WEAK,STRONG model pair (repeatable; default: "
                                                   "two offline pairs, plus the Qwen pair on a GPU)")] = None,
    db: Annotated[str | None, typer.Option(help="the campaign's database URL (default: from its folder)")] = None,
    task: Annotated[list[str] | None, typer.Option(help="tasks of the gauntlet (default: the campaign's)")] = None,
    workers: Annotated[int | None, typer.Option(min=1, max=64, help="sandboxed runs in parallel")] = None,
    timeout_s: Annotated[float, typer.Option(min=10, help="time limit of one sandboxed run")] = 900,
    unsafe_sandbox: Annotated[bool, typer.Option(help="run submitted code without bubblewrap (UNSAFE)")] = False,
    executor: Annotated[str, typer.Option(help="where submitted code runs: local | ray")] = "local",
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address for --executor ray")] = None,
    markdown: Annotated[bool, typer.Option(help="also print the table as Markdown")] = False,
) -> None:
    """Re-test the campaign's top verified methods and the baselines on fresh seeds, the never-used holdout
    split, the other tasks and other model pairs; PGR with 95% CIs, paired p vs vanilla, Holm-corrected."""
    from aar import paths
    from aar.campaign.transfer import DEFAULT_BASELINES, GauntletSpec, Pair, default_pairs, transfer_seeds
    from aar.campaign.transfer_run import TRANSFER_FILE, run_transfer
    from aar.report import transfer as view

    _sandbox_mode(unsafe_sandbox)
    spec = GauntletSpec(top_k=top_k, baselines=list(baseline or DEFAULT_BASELINES),
                        seeds=transfer_seeds(seeds),
                        pairs=[Pair.parse(p) for p in pair] if pair else default_pairs(), timeout_s=timeout_s,
                        ray_address=_ray_address(executor, ray_address), unsafe_sandbox=unsafe_sandbox)
    if workers:
        spec.workers = workers
    result = run_transfer(campaign, db, spec, tasks=task,
                          log=lambda m: console.print(m, highlight=False, soft_wrap=True))
    console.print(view.terminal_table(result))
    if markdown:
        print(view.markdown(result))
    console.print(f"transfer: {paths.home() / 'campaigns' / campaign / TRANSFER_FILE}")


@app.command("report")
def report_cmd(
    campaign: Annotated[str, typer.Argument(help="campaign name (under AAR_HOME/campaigns)")],
) -> None:
    """Write the campaign's self-contained HTML report and print its headline table."""
    from aar.campaign.orchestrator import CampaignSpec, Orchestrator
    from aar.report.html import write_report

    spec = CampaignSpec.load(campaign)
    path = write_report(spec.folder(), spec.db_url())
    result = json.loads((spec.folder() / "results.json").read_text())
    Orchestrator(spec, console).print_summary(result)
    console.print(f"report: {path}")


@app.command("baseline")
def baseline(
    task: Annotated[str, typer.Option(help="task name, comma list, or 'all'")] = "all",
    method: Annotated[str, typer.Option(help="method name, comma list, 'all', or file.py:Class")] = "all",
    seeds: Annotated[int, typer.Option(min=1, max=100, help="number of seeds (0..N-1)")] = 5,
    param: Annotated[list[str] | None, typer.Option(help="method parameter key=value (repeatable)")] = None,
    weak: Annotated[str, typer.Option(help="weak model (see `aar models`, or hf:<model>)")] = DEFAULT_WEAK,
    strong: Annotated[str, typer.Option(help="strong model (see `aar models`, or hf:<model>); default: the "
                                        "task's default")] = "",
    split: Annotated[str, typer.Option(help="evaluation split: test or dev")] = "test",
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Run methods on the W2S testbed: weak, ceiling, student accuracy and PGR with 95% CIs."""
    from aar.report_table import run_baselines

    if split not in ("test", "dev"):
        raise AarError(f"--split must be 'test' or 'dev', got {split!r}")
    run_baselines(_tasks(task), method, list(range(seeds)), _parse_params(param or []), weak, strong, split,
                  as_json, console)


@app.command("serve")
def serve(
    db: Annotated[str | None, typer.Option(help="database URL (default sqlite:///<AAR_HOME>/aar.db)")] = None,
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8765,
    workers: Annotated[int, typer.Option(min=0, max=64, help="verification worker processes (0: run "
                                         "`aar worker` elsewhere)")] = 1,
    lease_s: Annotated[float, typer.Option(min=2, max=3600, help="verification lease; a worker silent this "
                                           "long is presumed dead and its submission re-queued")] = 30,
    unsafe_sandbox: Annotated[bool, typer.Option(help="run submitted code without bubblewrap (UNSAFE)")] = False,
    executor: Annotated[str, typer.Option(help="where verification (and experiments) run: local | ray")] = "local",
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address for --executor ray "
                                                    "(e.g. 10.0.0.5:6379, or 'auto')")] = None,
    access_log: Annotated[bool, typer.Option(help="log every request (off: at hundreds of requests a second "
                                             "the log line costs more than the request)")] = False,
) -> None:
    """Run the evaluation server (migrates the database first) and its verification workers."""
    import logging

    import uvicorn

    from aar.server.admin_token import admin_token_digest
    from aar.server.app import create_app
    from aar.server.db import make_engine, session_factory
    from aar.server.worker import WorkerPool

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    _sandbox_mode(unsafe_sandbox)
    address = _ray_address(executor, ray_address)
    url = _migrated_db(db)
    app_ = create_app(session_factory(make_engine(url)), admin_token_digest())
    pool = WorkerPool(url, workers, lease_s, ray_address=address)
    pool.start()
    console.print(f"[green]aar serve[/] on http://{host}:{port} (db {url.split('@')[-1]}, {workers} worker(s))")
    try:
        # httptools and uvloop (uvicorn[standard]): the pure-Python parser and loop cost most of a request's CPU
        uvicorn.run(app_, host=host, port=port, log_level="info" if access_log else "warning", http="httptools",
                    loop="uvloop", access_log=access_log)
    finally:
        pool.close()


@app.command()
def worker(
    db: Annotated[str | None, typer.Option(help="database URL (default sqlite:///<AAR_HOME>/aar.db)")] = None,
    lease_s: Annotated[float, typer.Option(min=2, max=3600)] = 30,
    once: Annotated[bool, typer.Option(help="exit when the queue is empty")] = False,
    unsafe_sandbox: Annotated[bool, typer.Option(help="run submitted code without bubblewrap (UNSAFE)")] = False,
    executor: Annotated[str, typer.Option(help="where verification (and experiments) run: local | ray")] = "local",
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address for --executor ray "
                                                    "(e.g. 10.0.0.5:6379, or 'auto')")] = None,
) -> None:
    """Run one verification worker against a server's database (e.g. on a GPU machine)."""
    import logging

    from aar.server.db import make_engine, session_factory
    from aar.server.worker import Worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    _sandbox_mode(unsafe_sandbox)
    address = _ray_address(executor, ray_address)
    url = _migrated_db(db)
    Worker(session_factory(make_engine(url)), lease_s=lease_s, ray_address=address).run(once=once)


def _ray_address(executor: str, address: str | None) -> str | None:
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


def _sandbox_mode(unsafe: bool) -> None:
    """Fail fast when agent code could not be sandboxed; remember an explicit --unsafe-sandbox for children."""
    from aar.sandbox.runner import default_sandbox

    if unsafe:
        os.environ["AAR_UNSAFE_SANDBOX"] = "1"
    default_sandbox()  # raises with instructions when bubblewrap is missing and unsafe was not asked for


def _migrated_db(db: str | None) -> str:
    from aar import paths
    from aar.server.db import upgrade

    paths.home().mkdir(parents=True, exist_ok=True)
    url = db or f"sqlite:///{paths.home() / 'aar.db'}"
    upgrade(url)
    return url


def main() -> None:
    try:
        app()
    except AarError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]")
        sys.exit(130)


if __name__ == "__main__":
    main()
