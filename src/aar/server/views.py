"""Read-side views of the server's rows, shared by the HTTP API and the dashboard: what an agent, a campaign's
totals and the leaderboard look like. Routes and dashboard pages both import these; neither imports the other."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aar.results.api import AgentView, AttributionView, CampaignTotals, LeaderboardEntry, SubmissionView
from aar.results.submission import SubmissionStatus as Status
from aar.results.verification import IntervalRecord
from aar.server.models import Agent, Campaign, Evaluation, Submission, utcnow
from aar.stats.ranking import rank_key

BUDGET_FIELDS = ("agent_usd_budget", "agent_token_budget", "agent_compute_s_budget", "agent_wall_s_budget",
                 "campaign_usd_budget", "campaign_token_budget", "campaign_compute_s_budget",
                 "campaign_wall_s_budget", "campaign_dev_budget")


USAGE_FIELDS = ("llm_calls", "input_tokens", "output_tokens", "cached_tokens", "cost_usd", "compute_s")


def iso(moment: datetime | None) -> str | None:
    """A stored time as the replies write it (ISO 8601), or None."""
    return moment.isoformat() if moment else None


def agent_spend(a: Agent, c: Campaign) -> dict[str, tuple[float, float]]:
    """An agent's own usage against its campaign's per-agent budgets, (used, budget) by kind: the ledger
    stops the agent on these and ``/v1/me`` reports them, from this one definition."""
    return {"usd": (a.cost_usd, c.agent_usd_budget),
            "tokens": (a.input_tokens + a.output_tokens + a.cached_tokens, c.agent_token_budget),
            "compute_s": (a.compute_s, c.agent_compute_s_budget)}


def agent_view(a: Agent, best_dev_pgr: float | None = None) -> AgentView:
    return AgentView(name=a.name, state=a.state, stop_reason=a.stop_reason, dev_evals_used=a.dev_evals_used,
                     submissions_used=a.submissions_used, **{k: getattr(a, k) for k in USAGE_FIELDS},
                     last_seen=iso(a.last_seen),
                     created_at=a.created_at.isoformat(), best_dev_pgr=best_dev_pgr)


def agent_views(session: Session, campaign: Campaign) -> list[AgentView]:
    """Every agent of a campaign by name, with usage and the best dev PGR it has seen."""
    agents = session.scalars(select(Agent).where(Agent.campaign_id == campaign.id).order_by(Agent.name)).all()
    best = dict(session.execute(select(Evaluation.agent_id, func.max(Evaluation.pgr))
                                .where(Evaluation.campaign_id == campaign.id).group_by(Evaluation.agent_id)).all())
    return [agent_view(a, best.get(a.id)) for a in agents]


def campaign_totals(session: Session, campaign: Campaign) -> CampaignTotals:
    """Usage of all agents together; wall time counts from the campaign's creation (downtime included)."""
    row = session.execute(select(func.coalesce(func.sum(Agent.cost_usd), 0.0),
                                 func.coalesce(func.sum(Agent.input_tokens + Agent.output_tokens
                                                        + Agent.cached_tokens), 0),
                                 func.coalesce(func.sum(Agent.compute_s), 0.0),
                                 func.coalesce(func.sum(Agent.dev_evals_used), 0))
                          .where(Agent.campaign_id == campaign.id)).one()
    created = campaign.created_at if campaign.created_at.tzinfo else campaign.created_at.replace(tzinfo=UTC)
    return CampaignTotals(cost_usd=float(row[0]), tokens=int(row[1]), compute_s=float(row[2]),
                          dev_evals=int(row[3]), wall_s=(utcnow() - created).total_seconds())


LEADERBOARD_STATUSES = (Status.VERIFIED, Status.QUARANTINED, Status.FAILED)  # in the order the board shows them


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _interval(value: IntervalRecord, digits: int) -> IntervalRecord:
    return IntervalRecord(**{k: _round(v, digits) for k, v in value.model_dump().items()})


def public_view(sub: Submission, agent_name: str, digits: int, owner: bool) -> SubmissionView:
    """What agents see. The owner also sees its own error message (its own code's failure)."""
    view = SubmissionView(
        id=sub.id, agent=agent_name, task=sub.task, entry=sub.entry, params=sub.params,
        snapshot_sha256=sub.snapshot_sha256, status=Status(sub.status), seeds=len(sub.seeds),
        submitted_at=sub.created_at.isoformat(), finished_at=iso(sub.finished_at),
        # carried over from an earlier campaign (a baseline to beat), re-verified on this campaign's seeds
        inherited=sub.origin,
        quarantine_reason=sub.quarantine_reason if sub.status == Status.QUARANTINED else None,
        error=sub.error if owner else None)
    r = sub.verification
    if r is None:
        return view
    a = r.attribution
    return view.model_copy(update=dict(
        pgr=_interval(r.pgr, digits), dev_pgr=_interval(r.dev_pgr, digits),
        vanilla_pgr=_interval(r.vanilla_pgr, digits), p_vs_vanilla=_round(r.p_vs_vanilla, 3),
        # the paper's naive baseline (soft labels) beside it; rankings use vanilla
        soft_pgr=_interval(r.soft_pgr, digits) if r.soft_pgr is not None else None, p_vs_soft=_round(r.p_vs_soft, 3),
        attribution=None if a is None else AttributionView(
            kind=str(a.kind), allowed=a.allowed, seeds=a.seeds, pgr_on_seeds=_interval(a.pgr, digits),
            teacher_pgr=_round(a.teacher_pgr, digits), strong_prior_pgr=_round(a.decomposition.strong_prior, digits),
            researcher_pgr=_round(a.decomposition.researcher, digits),
            pgr_without={k: _round(v.pgr.mean, digits) if v.ok else v.status for k, v in a.ablations.items()},
            reasons=a.reasons)))


def board_order(row: SubmissionView) -> tuple:
    """Verified first; among them weak-to-strong results (or ones verified before attribution) above zero-shot
    ones whatever their PGR, since the board ranks weak-to-strong gains; then by PGR."""
    zero_shot = row.attribution is not None and row.attribution.kind == "zero-shot"
    return (LEADERBOARD_STATUSES.index(row.status), zero_shot, *rank_key(row.pgr.mean if row.pgr else None, row.id))


def leaderboard_rows(session: Session, campaign: Campaign, task: str | None) -> list[LeaderboardEntry]:
    query = (select(Submission, Agent.name).join(Agent, Agent.id == Submission.agent_id)
             .where(Submission.campaign_id == campaign.id, Submission.status.in_(LEADERBOARD_STATUSES)))
    if task:
        query = query.where(Submission.task == task)
    return ranked([public_view(s, name, campaign.round_digits, owner=False) for s, name in session.execute(query)])


def ranked(rows: list[SubmissionView]) -> list[LeaderboardEntry]:
    """Rows in board order, each verified one with its rank *within its task* (PGRs of different tasks are
    not comparable: a board over all tasks ranked them 1-12 together); others get None."""
    ranks: dict[str, int] = {}
    out = []
    for row in sorted(rows, key=board_order):
        rank = None
        if row.status == Status.VERIFIED:
            rank = ranks[row.task] = ranks.get(row.task, 0) + 1
        out.append(LeaderboardEntry(**dict(row), rank=rank))
    return out
