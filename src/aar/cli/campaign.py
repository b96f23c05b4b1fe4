"""`aar run`, `aar transfer` and `aar report`: a research campaign, its transfer gauntlet and its report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from aar.cli.common import (
    AsJson,
    Campaign,
    CampaignDb,
    Executor,
    RayAddress,
    TaskList,
    UnsafeSandbox,
    console,
    err_console,
    resolve_ray_address,
    sandbox_mode,
)
from aar.errors import AarError


def run_cmd(
    name: Annotated[str | None, typer.Option(help="campaign name (default run-<date>-<time>)")] = None,
    resume: Annotated[str | None, typer.Option(help="resume this campaign after a crash or kill")] = None,
    continue_from: Annotated[str | None, typer.Option(help="an earlier campaign: its best verified methods "
                                                      "(re-verified here, the bar to beat) and its forum start "
                                                      "this one")] = None,
    agents: Annotated[int, typer.Option(min=1, max=64, help="researchers in parallel")] = 4,
    task: TaskList = None,
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
    unsafe_sandbox: UnsafeSandbox = False,
    executor: Executor = "local",
    ray_address: RayAddress = None,
    transfer: Annotated[bool, typer.Option(help="run the transfer gauntlet at the end (`aar transfer`)")] = True,
    transfer_top_k: Annotated[int, typer.Option(min=0, help="verified methods per task in the gauntlet")] = 1,
    transfer_seeds: Annotated[int, typer.Option(min=1, max=50, help="fresh seeds of the gauntlet")] = 5,
    allow_zero_shot: Annotated[bool, typer.Option(help="attribution policy: zero-shot results (most of the gain "
                                                  "survives without the teacher) rank, labelled as such")] = True,
    allow_text_reading: Annotated[bool, typer.Option(help="attribution policy: results that read the raw text "
                                                     "with their own rules rank instead of being quarantined")] = False,
) -> None:
    """Run a whole research campaign: server, researchers in parallel, verification, corrected results,
    then the transfer gauntlet (unless --no-transfer)."""
    import time as _time

    from aar.campaign.directions import DIRECTIONS, draw, load_directions
    from aar.campaign.orchestrator import run_campaign
    from aar.campaign.spec import CampaignSpec
    from aar.seeds import verification_seeds
    from aar.tasks import DEFAULT_TASKS, load_task

    sandbox_mode(unsafe_sandbox)
    if direction_detail not in ("vague", "specific"):
        raise AarError("--direction-detail must be vague or specific")
    if backend not in ("heuristic", "anthropic", "openai"):
        raise AarError(f"unknown backend {backend!r}; use heuristic, anthropic or openai")
    address = resolve_ray_address(executor, ray_address)
    if resume:
        spec = CampaignSpec.load(resume)
        result = run_campaign(spec, resume=True, console=console)
    else:
        campaign_name = name or _time.strftime("run-%Y%m%d-%H%M%S")
        if (CampaignSpec(name=campaign_name).folder() / "spec.json").exists():
            raise AarError(f"campaign {campaign_name!r} exists; resume it with `aar run --resume {campaign_name}`")
        if continue_from:
            CampaignSpec.load(continue_from)  # a clear error now, before anything is built
        pool = load_directions(directions) if directions else DIRECTIONS
        tasks = task or list(DEFAULT_TASKS)
        for t in tasks:
            load_task(t)  # build missing tasks now, with a clear error for unknown names
        spec = CampaignSpec(name=campaign_name, agents=agents, tasks=tasks,
                            backend=backend, model=model, base_url=base_url, detail=direction_detail,
                            dev_evals=dev_evals, submit_budget=submit_budget,
                            verify_seeds=verification_seeds(verify_seeds), wall_minutes=wall_minutes,
                            seed=seed, db=db, unsafe_sandbox=unsafe_sandbox, ray_address=address,
                            transfer=transfer, transfer_top_k=transfer_top_k, transfer_seeds=transfer_seeds,
                            allow_zero_shot=allow_zero_shot, allow_text_reading=allow_text_reading,
                            continue_from=continue_from)
        if workers:
            spec.workers = workers
        if directions:
            spec.directions = [{"key": d.key, "text": d.text(direction_detail)} for d in draw(pool, agents, seed)]
        result = run_campaign(spec, console=console)
    console.print(f"results: {spec.folder() / 'results.json'} (total ${result.cost_usd:.2f})")


def transfer_cmd(
    campaign: Annotated[str, typer.Argument(help="campaign name")],
    top_k: Annotated[int, typer.Option(min=0, max=50, help="verified methods per task")] = 2,
    baseline: Annotated[list[str] | None, typer.Option(help="built-in baseline (repeatable; vanilla is always "
                                                       "in; default vanilla, aux_conf, confident)")] = None,
    seeds: Annotated[int, typer.Option(min=1, max=50, help="fresh seeds (2000, 2001, ...)")] = 5,
    pair: Annotated[list[str] | None, typer.Option(help="held-out WEAK,STRONG model pair (repeatable; default: "
                                                   "two offline pairs, plus the Qwen pair on a GPU)")] = None,
    db: CampaignDb = None,
    task: Annotated[list[str] | None, typer.Option(help="tasks of the gauntlet (default: the campaign's)")] = None,
    workers: Annotated[int | None, typer.Option(min=1, max=64, help="sandboxed runs in parallel")] = None,
    timeout_s: Annotated[float, typer.Option(min=10, help="time limit of one sandboxed run")] = 900,
    unsafe_sandbox: UnsafeSandbox = False,
    executor: Executor = "local",
    ray_address: RayAddress = None,
    markdown: Annotated[bool, typer.Option(help="also print the table as Markdown")] = False,
    as_json: AsJson = False,
) -> None:
    """Re-test the campaign's top verified methods and the baselines on fresh seeds, the never-used holdout
    split, the other tasks and other model pairs; PGR with 95% CIs, paired p vs vanilla, Holm-corrected."""
    from aar import paths
    from aar.campaign.transfer import DEFAULT_BASELINES, GauntletSpec, Pair, default_pairs
    from aar.campaign.transfer_run import run_transfer
    from aar.report import transfer as view
    from aar.results.transfer import TRANSFER_FILE
    from aar.seeds import transfer_seeds

    sandbox_mode(unsafe_sandbox)
    spec = GauntletSpec(top_k=top_k, baselines=list(baseline or DEFAULT_BASELINES),
                        seeds=transfer_seeds(seeds),
                        pairs=[Pair.parse(p) for p in pair] if pair else default_pairs(), timeout_s=timeout_s,
                        ray_address=resolve_ray_address(executor, ray_address), unsafe_sandbox=unsafe_sandbox)
    if workers:
        spec.workers = workers
    result = run_transfer(campaign, db, spec, tasks=task,
                          log=lambda m: err_console.print(m, highlight=False, soft_wrap=True) if as_json
                          else console.print(m, highlight=False, soft_wrap=True))
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    console.print(view.terminal_table(result))
    if markdown:
        print(view.markdown(result))
    console.print(f"transfer: {paths.campaign_dir(campaign) / TRANSFER_FILE}")


def report_cmd(
    campaign: Campaign,
    as_json: AsJson = False,
) -> None:
    """Write the campaign's self-contained HTML report and print its headline table."""
    from aar.campaign.spec import CampaignSpec
    from aar.report.html import write_report
    from aar.report.terminal import campaign_table
    from aar.results.campaign import CampaignResults

    spec = CampaignSpec.load(campaign)
    path = write_report(spec.folder(), spec.db_url())
    results = CampaignResults.load(spec.folder())
    if as_json:  # the headline's numbers: results.json as written, plus where the report went
        print(json.dumps({"report": str(path), "results": json.loads(results.model_dump_json(by_alias=True))},
                         indent=2))
        return
    console.print(campaign_table(results))
    console.print(f"report: {path}")
