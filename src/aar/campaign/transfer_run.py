"""`aar transfer CAMPAIGN`: pick who enters the gauntlet, run it, write ``transfer.json``.

Entrants are the top-k verified submissions of each task by server-verified test PGR (quarantined ones are
out; a submission identical in code, entry and params to a better one is the same method and enters once)
and the built-in baselines on every task. Their lab numbers come from verification (submissions) or from
the same trusted testbed on the campaign's verification seeds (baselines), so the "lab" column is what the
campaign itself would have reported.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from sqlalchemy import select

from aar import paths
from aar.campaign.transfer import LAB_PAIR, Gauntlet, GauntletSpec, Subject, report
from aar.errors import AarError
from aar.results.submission import SubmissionStatus as Status
from aar.results.transfer import LabRecord, TransferResult, save_transfer
from aar.results.verification import IntervalRecord
from aar.server.verify import campaign_seeds
from aar.stats.multiple import holm
from aar.stats.ranking import rank_key


def _submission_subjects(session, campaign, top_k: int) -> list[Subject]:
    from aar.server.models import Agent, Snapshot, Submission

    names = dict(session.execute(select(Agent.id, Agent.name).where(Agent.campaign_id == campaign.id)).all())
    verified = [s for s in session.scalars(select(Submission).where(Submission.campaign_id == campaign.id,
                                                                    Submission.status == Status.VERIFIED)
                                           .order_by(Submission.id)) if s.result]
    results = {s.id: s.verification for s in verified}
    p_raw = [results[s.id].p_vs_vanilla for s in verified]
    p_holm = dict(zip((s.id for s in verified), holm([1.0 if p is None else p for p in p_raw]), strict=True))
    subjects: list[Subject] = []
    seen: set[tuple] = set()
    by_pgr = sorted(verified, key=lambda s: rank_key(results[s.id].pgr.mean, s.id))
    for task in sorted({s.task for s in verified}):
        taken = 0
        for sub in (s for s in by_pgr if s.task == task):
            identity = (sub.snapshot_sha256, sub.entry, json.dumps(sub.params, sort_keys=True), sub.task)
            if identity in seen or taken >= top_k:
                continue
            seen.add(identity)
            taken += 1
            snapshot = session.get(Snapshot, sub.snapshot_sha256)
            subjects.append(Subject(
                key=f"submission:{sub.id}", kind="submission", task=task, entry=sub.entry, params=dict(sub.params),
                label=f"#{sub.id} {names[sub.agent_id]} {sub.entry}", agent=names[sub.agent_id],
                submission_id=sub.id, snapshot=snapshot.data if snapshot else None,
                lab=LabRecord(pgr=results[sub.id].pgr, p=results[sub.id].p_vs_vanilla, p_holm=p_holm[sub.id],
                              seeds=list(sub.seeds), split="test")))
    return subjects


def _baseline_subjects(gauntlet: Gauntlet, tasks: list[str], baselines: list[str], verify_seeds: list[int]) -> list:
    subjects = []
    for task in tasks:
        bed = gauntlet.bed(task, LAB_PAIR)
        vanilla = bed.run("vanilla", verify_seeds)
        for name in baselines:
            try:
                run = vanilla if name == "vanilla" else bed.run(name, verify_seeds)
                lab = LabRecord(pgr=IntervalRecord.of(run.summary("test").pgr), seeds=verify_seeds, split="test",
                                p=None if name == "vanilla" else run.versus(vanilla, "test").p_value, p_holm=None)
            except AarError as exc:  # a baseline that does not apply to this task's format
                gauntlet.log(f"transfer: baseline {name} skipped on {task}: {exc}")
                continue
            subjects.append(Subject(key=f"baseline:{name}@{task}", kind="baseline", task=task, entry=name, params={},
                                    label=f"{name} ({task})", lab=lab))
    return subjects


def run_transfer(name: str, db_url: str | None = None, spec: GauntletSpec | None = None,
                 tasks: list[str] | None = None, log: Callable[[str], None] = print) -> TransferResult:
    """Run the gauntlet for campaign ``name`` and write ``<AAR_HOME>/campaigns/NAME/transfer.json``."""
    from aar.server.db import open_campaign
    from aar.server.models import Submission

    folder = paths.campaign_dir(name)
    if db_url is None:
        if not (folder / "spec.json").exists():
            raise AarError(f"no campaign {name!r} under {folder.parent}; give its database with --db")
        from aar.campaign.spec import CampaignSpec

        saved = CampaignSpec.load(name)
        db_url, tasks = saved.db_url(), tasks or saved.tasks
    spec = spec or GauntletSpec()
    started = time.time()
    with open_campaign(db_url, name) as (session, campaign):
        spec.check(list(campaign.verify_seeds))
        verify_seeds = campaign_seeds(campaign.id, list(campaign.verify_seeds))  # what verification used
        spec.check(verify_seeds)
        tasks = tasks or sorted(set(session.scalars(select(Submission.task)
                                                    .where(Submission.campaign_id == campaign.id))))
        if not tasks:
            raise AarError(f"campaign {name!r} has no tasks to transfer from (no submissions)")
        submissions = _submission_subjects(session, campaign, spec.top_k)
    gauntlet = Gauntlet(spec, tasks, log)
    subjects = [s for s in submissions if s.task in tasks]
    subjects += _baseline_subjects(gauntlet, tasks, spec.baselines, verify_seeds)
    log(f"transfer: {sum(s.kind == 'submission' for s in subjects)} submission(s) and "
        f"{sum(s.kind == 'baseline' for s in subjects)} baseline row(s); seeds {spec.seeds}; pairs "
        + ", ".join(p.label for p in spec.pairs))
    cells = gauntlet.run(subjects)
    result = report(name, spec, tasks, subjects, cells, time.time() - started)
    save_transfer(folder, result)
    return result
