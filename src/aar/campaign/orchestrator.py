"""`aar run`: one campaign end to end, resumable.

:func:`run_campaign` is the whole sequence: prepare the tasks, start the evaluation server as a child on
loopback, create the campaign and its agents (directions drawn without replacement), run the researchers
(:mod:`aar.campaign.supervisor`), wait for the verification queue to drain, scan for evaluation gaming,
compute the corrected results (:mod:`aar.campaign.results`), run the transfer gauntlet and write the report.
All state is in the server database and the campaign folder, so after a crash ``aar run --resume NAME``
continues: finished agents stay finished, the others pick up where their state says.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from rich.console import Console

from aar.campaign.admin_client import AdminClient
from aar.campaign.directions import DIRECTIONS, Direction, draw
from aar.campaign.processes import start_server, stop_all
from aar.campaign.results import compute_results
from aar.campaign.spec import CampaignSpec
from aar.campaign.supervisor import Supervisor, agent_names
from aar.errors import AarError
from aar.execution_settings import ExecutionSettings
from aar.fsio import write_text_atomic
from aar.report.console import output_console
from aar.report.html import write_report
from aar.report.terminal import campaign_table
from aar.results.campaign import CampaignResults, FindingRow
from aar.results.submission import OPEN

VERIFICATION_TIMEOUT_S = 7200


def run_campaign(spec: CampaignSpec, resume: bool = False, console: Console | None = None,
                 pool: list[Direction] | None = None) -> CampaignResults:
    console = console or output_console()
    started = time.time()
    if not resume and (spec.folder() / "spec.json").exists():
        raise AarError(f"campaign {spec.name!r} exists; resume it with `aar run --resume {spec.name}`")
    spec.folder().mkdir(parents=True, exist_ok=True)
    prepare_tasks(spec, console)
    token = admin_token(spec)
    server, base = start_server(spec, token, spec.folder() / "server.log")
    client = AdminClient(base, token)
    supervisor = Supervisor(spec, client, console)
    try:
        console.print(f"dashboard: {base}/dashboard/ (sign in with the token in {spec.folder() / 'admin_token'})",
                      highlight=False)
        if not resume:
            create(spec, client, pool or DIRECTIONS)
        if spec.continue_from:  # again on a resume: the server adds only what is missing
            inherit(spec, client, console)
        supervisor.run()
        wait_for_verification(spec, client, console)
        findings = scan_integrity(spec, console)
        result = compute_results(spec.name, spec.tasks, client.submissions(spec.name), client.agents(spec.name),
                                 findings, time.time() - started)
        result.save(spec.folder())
        console.print(campaign_table(result))
        if spec.transfer:
            run_gauntlet(spec, console)
        console.print(f"report: {write_report(spec.folder(), spec.db_url())}")
        return result
    finally:
        stop_all([*supervisor.procs.values(), server])


def prepare_tasks(spec: CampaignSpec, console: Console) -> None:
    """Build data, features and the reference runs once, here, before N researchers and the server would
    each compute the same things at the same time (content-addressed caches make this a no-op when warm)."""
    from aar.server.scoring import DevScorer

    scorer = DevScorer()
    for task in spec.tasks:
        started = time.time()
        scorer.dev_ids(task)  # features + weak/ceiling reference runs used by the dev scores
        console.print(f"prepared {task} in {time.time() - started:.0f} s", highlight=False)


def admin_token(spec: CampaignSpec) -> str:
    """The campaign's admin token, made once and kept (owner-only) in its folder, so a resume reuses it."""
    path = spec.folder() / "admin_token"
    if not path.exists():
        _secret_file(path, "aar_admin_" + secrets.token_urlsafe(32))
    return path.read_text().strip()


def create(spec: CampaignSpec, client: AdminClient, pool: list[Direction]) -> None:
    """Draw the directions (saved in the spec, so a resume keeps them), then the campaign and its agents."""
    if not spec.directions:
        spec.directions = [{"key": d.key, "text": d.text(spec.detail)} for d in draw(pool, spec.agents, spec.seed)]
    spec.save()
    client.create_campaign(spec)
    for name in agent_names(spec):
        token = client.create_agent(spec.name, name)
        (spec.folder() / "agents" / name).mkdir(parents=True, exist_ok=True)
        _secret_file(spec.folder() / "agents" / name / "token", token)


def inherit(spec: CampaignSpec, client: AdminClient, console: Console) -> None:
    """The earlier campaign's best verified methods (re-verified on this campaign's seeds: the bar the new
    results must beat) and its forum, read from that campaign's own database (aar.server.heritage)."""
    from aar.server.db import open_campaign
    from aar.server.heritage import export_heritage

    assert spec.continue_from is not None
    earlier = CampaignSpec.load(spec.continue_from)
    with open_campaign(earlier.db_url(), earlier.name) as (session, campaign):
        heritage = export_heritage(session, campaign)
    added = client.inherit(spec.name, heritage)
    console.print(f"inherited from {earlier.name}: {len(heritage.methods)} verified method(s) as baselines "
                  f"to beat (re-verified here), {len(heritage.posts)} forum post(s) "
                  f"(added now: {added.methods} and {added.posts})", highlight=False)


def wait_for_verification(spec: CampaignSpec, client: AdminClient, console: Console,
                          timeout_s: float = VERIFICATION_TIMEOUT_S) -> None:
    deadline, shown = time.time() + timeout_s, None
    while time.time() < deadline:
        counts = client.queue_counts(spec.name)
        if not any(counts.get(status) for status in OPEN):
            return
        if counts != shown:  # a line when the queue moves, not one per poll
            console.print(f"verifying: {counts}", highlight=False)
            shown = counts
        time.sleep(1)
    raise AarError("verification did not finish in time; run `aar run --resume` to wait again")


def scan_integrity(spec: CampaignSpec, console: Console) -> list[FindingRow]:
    """Scan for evaluation gaming before anything is ranked: flagged submissions are quarantined and leave the
    results until an admin clears them (`aar integrity review`). The best method per task gets a teacher
    ablation."""
    from aar.integrity.scan import scan
    from aar.server.db import open_campaign

    settings = ExecutionSettings(ray_address=spec.ray_address, allow_unsandboxed=spec.unsafe_sandbox)
    with open_campaign(spec.db_url(), spec.name) as (session, campaign):
        findings, counts = scan(session, campaign, ablation=True, ablate_top=1, settings=settings)
    console.print(f"integrity: {len(findings)} finding(s), quarantined {counts['quarantined'] or 'none'}"
                  f" (details: `aar integrity review {spec.name}`)", highlight=False)
    return [FindingRow(detector=f.detector, severity=f.severity, agent=f.agent, task=f.task,
                       submission=f.submission_id, summary=f.summary) for f in findings]


def run_gauntlet(spec: CampaignSpec, console: Console) -> None:
    """The transfer gauntlet: top verified methods and baselines on fresh seeds, the holdout split, other tasks
    and other model pairs. Resumable: its cells are cached by content."""
    from aar.campaign.transfer import GauntletSpec
    from aar.campaign.transfer_run import run_transfer
    from aar.report.transfer import terminal_table
    from aar.seeds import transfer_seeds

    gauntlet = GauntletSpec(top_k=spec.transfer_top_k, workers=spec.workers, ray_address=spec.ray_address,
                            unsafe_sandbox=spec.unsafe_sandbox, seeds=transfer_seeds(spec.transfer_seeds))
    result = run_transfer(spec.name, spec.db_url(), gauntlet, tasks=spec.tasks,
                          log=lambda m: console.print(m, highlight=False, soft_wrap=True))
    console.print(terminal_table(result))


def _secret_file(path: Path, value: str) -> None:
    write_text_atomic(path, value)
    path.chmod(0o600)
