"""`aar report CAMPAIGN`: one self-contained HTML file (plots embedded as PNG data URIs, no network).

It reads the campaign's ``results.json`` (server-computed, multiple-comparison corrected) and its database
(the evaluation log, the forum and usage), and shows: the headline table (per task: vanilla PGR, best
verified PGR with its 95% CI, raw and Holm-corrected p, dev-test gap; campaign cost and wall time), the
leaderboard of every verified submission, dev PGR over time per agent, dev vs test PGR per submission,
cost and compute per agent, forum activity, integrity findings, and the lab-vs-transfer table and plot of the
transfer gauntlet (``transfer.json``, :mod:`aar.report.transfer`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from aar.fsio import write_text_atomic
from aar.report.plots import png_data_uri
from aar.report.templating import environment
from aar.report.transfer import section_context
from aar.results.campaign import CampaignResults
from aar.results.transfer import TransferResult, load_transfer


def _load_log(db_url: str, campaign: str) -> tuple[list, list, list]:
    from aar.server.db import open_campaign
    from aar.server.models import Agent, Evaluation, IntegrityFinding, Post

    with open_campaign(db_url, campaign) as (s, c):
        evaluations = list(s.execute(select(Evaluation.created_at, Agent.name, Evaluation.task, Evaluation.pgr)
                                .join(Agent, Agent.id == Evaluation.agent_id)
                                .where(Evaluation.campaign_id == c.id).order_by(Evaluation.id)).all())
        posts = list(s.execute(select(Post.created_at, Agent.name, Post.kind).join(Agent, Agent.id == Post.agent_id)
                          .where(Post.campaign_id == c.id).order_by(Post.id)).all())
        findings = [{"id": f.id, "detector": f.detector, "severity": f.severity, "agent": name,
                     "submission": f.submission_id, "summary": f.summary, "review": f.review or "open"}
                    for f, name in s.execute(select(IntegrityFinding, Agent.name)
                                             .join(Agent, Agent.id == IntegrityFinding.agent_id)
                                             .where(IntegrityFinding.campaign_id == c.id)
                                             .order_by(IntegrityFinding.id))]
    return evaluations, posts, findings


def _plots(result: CampaignResults, evaluations: list, posts: list) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(result.tasks)
    agents = sorted({a.name for a in result.agents})
    start = min([e[0] for e in evaluations] + [p[0] for p in posts], default=datetime.now())
    plots = {}

    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.2), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        for agent in agents:
            pts = [((t - start).total_seconds() / 60, p) for t, a, k, p in evaluations
                   if a == agent and k == task and p is not None]
            if pts:
                best, xs, ys = float("-inf"), [], []
                for x, y in pts:
                    best = max(best, y)
                    xs.append(x)
                    ys.append(best)
                ax.step(xs, ys, where="post", label=agent)
                ax.scatter([x for x, _ in pts], [y for _, y in pts], s=8, alpha=0.4)
        ax.set_title(f"{task}: best dev PGR so far")
        ax.set_xlabel("minutes")
        ax.axhline(0, color="grey", lw=0.5)
    axes[0][0].legend(fontsize=7)
    plots["pgr_over_time"] = png_data_uri(fig)

    fig, ax = plt.subplots(figsize=(4.5, 4))
    for task in tasks:
        points = [(s.result.dev_pgr.mean, s.result.pgr.mean) for s in result.verified if s.task == task and s.result
                  and s.result.dev_pgr.mean is not None and s.result.pgr.mean is not None]
        ax.scatter([d for d, _ in points], [t for _, t in points], label=task)
    lims = ax.get_xlim() + ax.get_ylim()
    lo, hi = min(lims), max(lims)
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.5)
    ax.set_xlabel("dev PGR (verification seeds)")
    ax.set_ylabel("test PGR (hidden split)")
    ax.set_title("dev vs test PGR per verified method")
    ax.legend(fontsize=7)
    plots["dev_vs_test"] = png_data_uri(fig)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3))
    by_name = {a.name: a for a in result.agents}
    ax1.bar(agents, [by_name[a].cost_usd for a in agents])
    ax1.set_title("LLM dollars per agent")
    ax2.bar(agents, [by_name[a].compute_s / 60 for a in agents], color="tab:orange")
    ax2.set_title("experiment compute (minutes) per agent")
    for ax in (ax1, ax2):
        ax.tick_params(axis="x", rotation=30, labelsize=7)
    plots["cost"] = png_data_uri(fig)

    fig, ax = plt.subplots(figsize=(6, 3))
    for agent in agents:
        times = [(t - start).total_seconds() / 60 for t, a, _ in posts if a == agent]
        if times:
            ax.step(times, range(1, len(times) + 1), where="post", label=agent)
    ax.set_title("forum posts (cumulative)")
    ax.set_xlabel("minutes")
    ax.legend(fontsize=7)
    plots["forum"] = png_data_uri(fig)
    return plots


def render(result: CampaignResults, evaluations: list, posts: list, findings: list[dict] | None = None,
           transfer: TransferResult | None = None) -> str:
    """The self-contained report (Jinja, autoescaped): headline, leaderboard, plots, agents, integrity, transfer."""
    board = sorted((s for s in result.submissions if s.result is not None),
                   key=lambda s: (s.task, -(s.result.pgr.mean if s.result and s.result.pgr.mean is not None
                                            else -9)))
    return environment().get_template("campaign.html").render(
        r=result, board=board, plots=_plots(result, evaluations, posts), findings=findings or [],
        **section_context(transfer))


def write_report(folder: Path, db_url: str) -> Path:
    result = CampaignResults.load(folder)
    evaluations, posts, findings = _load_log(db_url, result.campaign)
    path = folder / "report.html"
    write_text_atomic(path, render(result, evaluations, posts, findings, load_transfer(folder)))
    return path
