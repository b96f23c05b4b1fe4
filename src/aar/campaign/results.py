"""A campaign's results from what the server verified: p-values corrected across the campaign's verified
submissions (Holm for the headline, Benjamini-Hochberg beside it) and the best verified method per task by
server-verified test PGR among weak-to-strong results (zero-shot results listed apart; quarantined classes
are not verified, so never here). A pure function of its inputs, so it is tested without a campaign."""

from __future__ import annotations

from aar.results.attribution import AttributionClass
from aar.results.campaign import (
    AgentRow,
    BestRow,
    CampaignResults,
    FindingRow,
    SubmissionRow,
    TaskRow,
    attribution_class,
)
from aar.results.submission import SubmissionStatus
from aar.stats.bootstrap import finite
from aar.stats.multiple import benjamini_hochberg, holm
from aar.stats.power import interval_detectable_effect
from aar.stats.ranking import rank_key

# what the headline's "best method" may be: a weak-to-strong result (or one verified before attribution existed)
HEADLINE_CLASSES = (AttributionClass.W2S, "unattributed")


def best_row(row: SubmissionRow) -> BestRow:
    """A headline row, with the smallest PGR difference from vanilla its paired test finds at p < 0.01 (80%
    power), read from the paired interval: what its p-value could have shown."""
    best = BestRow.of(row)
    if row.result is None:
        return best
    diff = row.result.vs_vanilla.diff
    detectable = finite(interval_detectable_effect(diff.lo, diff.hi))
    return best.model_copy(update={"detectable": None if detectable is None else round(detectable, 4)})


def compute_results(campaign: str, tasks: list[str], submissions: list[SubmissionRow], agents: list[AgentRow],
                    findings: list[FindingRow], wall_s: float) -> CampaignResults:
    verified = [(s, s.result) for s in submissions if s.status == SubmissionStatus.VERIFIED and s.result is not None]
    pvalues = [1.0 if r.p_vs_vanilla is None else r.p_vs_vanilla for _, r in verified]
    corrected = {s.id: (p_holm, p_bh) for (s, _), p_holm, p_bh in
                 zip(verified, holm(pvalues), benjamini_hochberg(pvalues), strict=True)}
    results = {s.id: r for s, r in verified}
    rows = [s.model_copy(update=dict(zip(("p_holm", "p_bh"), corrected[s.id], strict=True))) if s.id in corrected
            else s for s in submissions]
    per_task = {}
    for task in tasks:
        ranked = sorted((s for s in rows if s.id in corrected and s.task == task),
                        key=lambda s: rank_key(results[s.id].pgr.mean, s.id))
        w2s = [s for s in ranked if attribution_class(s.result) in HEADLINE_CLASSES]
        zero_shot = [s for s in ranked if attribution_class(s.result) == AttributionClass.ZERO_SHOT]
        new = [s for s in w2s if s.inherited is None]
        per_task[task] = TaskRow(vanilla_pgr=results[ranked[0].id].vanilla_pgr if ranked else None,
                                 best=best_row(w2s[0]) if w2s else None,
                                 best_new=best_row(new[0]) if new and new[0] is not w2s[0] else None,
                                 best_zero_shot=best_row(zero_shot[0]) if zero_shot else None,
                                 verified_submissions=len(ranked))
    return CampaignResults(campaign=campaign, wall_s=wall_s, cost_usd=sum(a.cost_usd for a in agents),
                           dev_evaluations=sum(a.dev_evals_used for a in agents), agents=agents, tasks=per_task,
                           integrity=findings, submissions=rows)
