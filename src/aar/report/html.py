"""`aar report CAMPAIGN`: one self-contained HTML file (plots embedded as PNG data URIs, no network).

It reads the campaign's ``results.json`` (server-computed, multiple-comparison corrected) and its database
(the evaluation log, the forum and usage), and shows: the headline table (per task: vanilla PGR, best
verified PGR with its 95% CI, raw and Holm-corrected p, dev-test gap; campaign cost and wall time), the
leaderboard of every verified submission, dev PGR over time per agent, dev vs test PGR per submission,
cost and compute per agent, forum activity, integrity findings, and the lab-vs-transfer table and plot of the
transfer gauntlet (``transfer.json``, :mod:`aar.report.transfer`).
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from aar.errors import AarError
from aar.fsio import write_text_atomic
from aar.report.plots import png_data_uri
from aar.results.intervals import format_interval, format_p


def _load_log(db_url: str, campaign: str) -> tuple[list, list, list]:
    from aar.server.db import make_engine, session_factory
    from aar.server.models import Agent, Campaign, Evaluation, IntegrityFinding, Post

    sessions = session_factory(make_engine(db_url))
    with sessions() as s:
        c = s.scalar(select(Campaign).where(Campaign.name == campaign))
        if c is None:
            raise AarError(f"campaign {campaign!r} is not in {db_url.split('@')[-1]}")
        evaluations = s.execute(select(Evaluation.created_at, Agent.name, Evaluation.task, Evaluation.pgr)
                                .join(Agent, Agent.id == Evaluation.agent_id)
                                .where(Evaluation.campaign_id == c.id).order_by(Evaluation.id)).all()
        posts = s.execute(select(Post.created_at, Agent.name, Post.kind).join(Agent, Agent.id == Post.agent_id)
                          .where(Post.campaign_id == c.id).order_by(Post.id)).all()
        findings = [{"id": f.id, "detector": f.detector, "severity": f.severity, "agent": name,
                     "submission": f.submission_id, "summary": f.summary, "review": f.review or "open"}
                    for f, name in s.execute(select(IntegrityFinding, Agent.name)
                                             .join(Agent, Agent.id == IntegrityFinding.agent_id)
                                             .where(IntegrityFinding.campaign_id == c.id)
                                             .order_by(IntegrityFinding.id))]
    return evaluations, posts, findings


def _plots(result: dict, evaluations: list, posts: list) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(result["tasks"])
    agents = sorted({a["name"] for a in result["agents"]})
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
    verified = [s for s in result["submissions"] if s["status"] == "verified" and s["result"]]
    for task in tasks:
        rows = [s for s in verified if s["task"] == task and s["result"]["dev_pgr"]["mean"] is not None]
        ax.scatter([s["result"]["dev_pgr"]["mean"] for s in rows], [s["result"]["pgr"]["mean"] for s in rows],
                   label=task)
    lims = ax.get_xlim() + ax.get_ylim()
    lo, hi = min(lims), max(lims)
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.5)
    ax.set_xlabel("dev PGR (verification seeds)")
    ax.set_ylabel("test PGR (hidden split)")
    ax.set_title("dev vs test PGR per verified method")
    ax.legend(fontsize=7)
    plots["dev_vs_test"] = png_data_uri(fig)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3))
    by_name = {a["name"]: a for a in result["agents"]}
    ax1.bar(agents, [by_name[a]["cost_usd"] for a in agents])
    ax1.set_title("LLM dollars per agent")
    ax2.bar(agents, [by_name[a]["compute_s"] / 60 for a in agents], color="tab:orange")
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


def render(result: dict, evaluations: list, posts: list, findings: list[dict] | None = None,
           transfer: dict | None = None) -> str:
    from aar.report.transfer import html_section

    e = html.escape
    plots = _plots(result, evaluations, posts)
    findings = findings or []
    finding_rows = "".join(
        f"<tr><td>{f['id']}</td><td>{e(f['severity'])}</td><td>{e(f['detector'])}</td><td>{e(f['agent'])}</td>"
        f"<td>{f['submission'] or '–'}</td><td>{e(f['review'])}</td><td>{e(f['summary'])}</td></tr>"
        for f in findings) or "<tr><td colspan=7>no findings</td></tr>"
    head_rows = "".join(
        f"<tr><td>{e(task)}</td><td>{format_interval(row['vanilla_pgr'])}</td>"
        f"<td>{format_interval(row['best']['pgr']) if row['best'] else 'none verified'}</td>"
        f"<td>{row['best']['p_vs_vanilla']:.3f}</td><td>{row['best']['p_holm']:.3f}</td>"
        f"<td>{'yes' if row['best']['p_holm'] < 0.05 else 'no'}</td><td>{row['best']['dev_test_gap']:+.2f}</td>"
        f"<td>{e(row['best']['agent'])}</td></tr>" if row["best"] else
        f"<tr><td>{e(task)}</td><td>{format_interval(row['vanilla_pgr'])}</td>"
        "<td colspan=6>no verified submission</td></tr>"
        for task, row in result["tasks"].items())
    board = sorted((s for s in result["submissions"] if s["result"]),
                   key=lambda s: (s["task"], -(s["result"]["pgr"]["mean"] or -9)))
    board_rows = "".join(
        f"<tr><td>{s['id']}</td><td>{e(s['task'])}</td><td>{e(s['agent'])}</td><td><code>{e(s['entry'])}</code></td>"
        f"<td>{e(s['status'])}</td><td>{format_interval(s['result']['pgr'])}</td><td>{format_interval(s['result']['dev_pgr'])}</td>"
        f"<td>{(s['result']['vs_vanilla']['p_value'] or 1):.3f}</td>"
        f"<td>{format_p(s.get('p_holm'))}</td><td>{format_p(s.get('p_bh'))}</td></tr>" for s in board)
    agent_rows = "".join(
        f"<tr><td>{e(a['name'])}</td><td>{e(a['state'])} ({e(str(a['stop_reason']))})</td>"
        f"<td>{a['dev_evals_used']}</td><td>{a['submissions_used']}</td><td>{a['llm_calls']}</td>"
        f"<td>{a['input_tokens'] + a['output_tokens']:,}</td><td>${a['cost_usd']:.3f}</td>"
        f"<td>{a['compute_s']:.0f}</td></tr>" for a in result["agents"])
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>aar campaign {e(result['campaign'])}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse;
margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;font-size:14px}}th{{background:#f4f4f4}}
img{{max-width:100%}}.note{{color:#555;font-size:13px}}</style></head><body>
<h1>Campaign {e(result['campaign'])}</h1>
<p>{len(result['agents'])} researchers, {result['dev_evaluations']} dev evaluations, total LLM cost
${result['cost_usd']:.2f}, wall time {result['wall_s'] / 60:.1f} min.</p>
<h2>Headline</h2>
<table><tr><th>task</th><th>vanilla PGR [95% CI]</th><th>best verified PGR [95% CI]</th><th>p vs vanilla</th>
<th>Holm p</th><th>significant (Holm, 0.05)</th><th>dev-test gap</th><th>by</th></tr>{head_rows}</table>
<p class="note">Test PGR from server verification on the hidden test split: hierarchical bootstrap over seeds and
test items (clustered by source problem); p-values from the paired bootstrap against vanilla on the same seeds,
corrected across all verified submissions of the campaign (Holm; Benjamini-Hochberg in the leaderboard).</p>
<h2>Leaderboard (server-verified only)</h2>
<table><tr><th>id</th><th>task</th><th>agent</th><th>entry</th><th>status</th><th>test PGR [95% CI]</th>
<th>dev PGR</th><th>p</th><th>Holm p</th><th>BH p</th></tr>{board_rows}</table>
<h2>Dev PGR over time</h2><img alt="dev PGR over time per agent" src="{plots['pgr_over_time']}">
<h2>Dev vs test</h2><img alt="dev vs test PGR" src="{plots['dev_vs_test']}">
<h2>Agents, cost and compute</h2>
<table><tr><th>agent</th><th>state</th><th>dev evals</th><th>submissions</th><th>LLM calls</th><th>tokens</th>
<th>$</th><th>compute s</th></tr>{agent_rows}</table><img alt="cost per agent" src="{plots['cost']}">
<h2>Forum activity</h2><img alt="forum activity" src="{plots['forum']}">
<h2>Integrity</h2>
<p class="note">Detectors of evaluation gaming (label probing, input-independent predictors, dev overfitting,
what methods tried in their sandbox, agents' shell commands, teacher ablation). Critical and warning findings
quarantine their submissions (excluded from the headline) until an admin clears them with
<code>aar integrity review</code>; notices are shown only.</p>
<table><tr><th>id</th><th>severity</th><th>detector</th><th>agent</th><th>submission</th><th>review</th>
<th>summary</th></tr>{finding_rows}</table>
{html_section(transfer)}
</body></html>"""


def write_report(folder: Path, db_url: str) -> Path:
    results = folder / "results.json"
    if not results.exists():
        raise AarError(f"{folder.name} has no results.json yet (the campaign has not finished)")
    result = json.loads(results.read_text())
    evaluations, posts, findings = _load_log(db_url, result["campaign"])
    from aar.results.transfer import load_transfer

    path = folder / "report.html"
    write_text_atomic(path, render(result, evaluations, posts, findings, load_transfer(folder)))
    return path
