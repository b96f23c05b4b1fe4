"""The "lab vs transfer" view of a gauntlet (``transfer.json``): a Rich table, Markdown, and an HTML section
with a forest plot. One row per entrant; the lab column is the campaign's verified test PGR, every other
column a transfer environment: PGR [95% CI], the difference to vanilla there, and the verdict after Holm
correction across the whole gauntlet (``gain``/``loss`` significant, ``n.s.`` not)."""

from __future__ import annotations

import html

from rich.table import Table

MARK = {"gain": "▲", "loss": "▼", "n.s.": "·"}


def columns(result: dict) -> list[dict]:
    return list(result["environments"])


def env_title(env: dict) -> str:
    if env["kind"] == "holdout":
        return "holdout (home task)"
    if env["kind"] == "task":
        return f"task {env['task']}"
    return f"pair {env['pair']['weak']} -> {env['pair']['strong']}"


def interval(value: dict | None) -> str:
    if not value or value.get("mean") is None:
        return "–"
    if value.get("lo") is None:
        return f"{value['mean']:.2f}"
    return f"{value['mean']:.2f} [{value['lo']:.2f}, {value['hi']:.2f}]"


def cell_text(cell: dict | None, subject: dict, env: dict) -> str:
    if cell is None:
        return "home" if env["kind"] == "task" and env["task"] == subject["task"] else ""
    if cell["status"] != "ok":
        return cell["status"]
    text = interval(cell["pgr"])
    if cell["pgr"].get("mean") is None:
        return "undefined (no weak-ceiling gap)"
    if "verdict" in cell:
        diff = cell["diff"].get("mean")
        text += f" {MARK[cell['verdict']]}" + ("" if diff is None else f" Δ{diff:+.2f}") + f" p={cell['p_holm']:.2f}"
    return text


def lab_text(subject: dict) -> str:
    """Submissions: p Holm-corrected across the campaign's verified submissions; baselines: raw p vs vanilla."""
    lab = subject["lab"]
    text = interval(lab.get("pgr"))
    if lab.get("p_holm") is not None:
        return text + f" p={lab['p_holm']:.2f}"
    return text + ("" if lab.get("p") is None else f" p={lab['p']:.2f} (raw)")


def rows(result: dict) -> list[tuple[dict, list[str]]]:
    cells = {(c["subject"], c["env"]): c for c in result["cells"]}
    return [(s, [lab_text(s)] + [cell_text(cells.get((s["key"], e["key"])), s, e) for e in columns(result)])
            for s in result["subjects"]]


def terminal_table(result: dict) -> Table:
    """Long format (one row per entrant and environment), so it stays legible in an 80-column terminal."""
    cells = {(c["subject"], c["env"]): c for c in result["cells"]}
    tested = sum("verdict" in c for c in result["cells"])
    table = Table(title=f"transfer gauntlet {result['campaign']}: {len(result['seeds'])} fresh seeds, holdout split; "
                        f"Holm across {tested} cells", caption="▲ significant gain, ▼ significant loss, · n.s. "
                        "(vs vanilla in the same environment)")
    for title in ("entrant", "where", "PGR [95% CI]", "Δ vs vanilla", "p (Holm)", ""):
        table.add_column(title)
    for subject in result["subjects"]:
        lab = subject["lab"]
        lab_p = lab.get("p_holm") if lab.get("p_holm") is not None else lab.get("p")
        table.add_row(subject["label"], f"lab: {subject['task']} test", interval(lab.get("pgr")), "",
                      "" if lab_p is None else f"{lab_p:.3f}" + ("" if lab.get("p_holm") is not None else " raw"), "")
        for env in columns(result):
            cell = cells.get((subject["key"], env["key"]))
            if cell is None:
                continue
            where = env_title(env).replace("holdout (home task)", f"holdout: {subject['task']}")
            if cell["status"] != "ok":
                table.add_row("", where, cell["status"], "", "", "")
                continue
            diff = (cell.get("diff") or {}).get("mean")
            table.add_row("", where, interval(cell["pgr"]) if cell["pgr"]["mean"] is not None else "undefined",
                          "" if diff is None or "verdict" not in cell else f"{diff:+.2f}",
                          f"{cell['p_holm']:.3f}" if "p_holm" in cell else "", MARK.get(cell.get("verdict", ""), ""))
        table.add_section()
    return table


def markdown(result: dict) -> str:
    head = ["entrant", "home", "lab: test PGR [95% CI]", *(env_title(e) for e in columns(result))]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for subject, texts in rows(result):
        lines.append("| " + " | ".join([subject["label"], subject["task"], *texts]).replace("·", "n.s.") + " |")
    return "\n".join(lines)


def forest_plot(result: dict) -> str:
    """Per entrant: lab PGR and every transfer PGR with their 95% intervals, vanilla's PGR there as a tick."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from aar.report.html import png_data_uri

    envs = columns(result)
    cells = {(c["subject"], c["env"]): c for c in result["cells"]}
    subjects = result["subjects"]
    colors = plt.get_cmap("tab10")
    step = 1.0 / (len(envs) + 2)
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(subjects) * (len(envs) + 1) ** 0.5 + 1.5))
    for row, subject in enumerate(subjects):
        y0 = len(subjects) - row
        series = [("lab (test)", subject["lab"].get("pgr"), None)]
        series += [(env_title(e), (cells.get((subject["key"], e["key"])) or {}).get("pgr"),
                    cells.get((subject["key"], e["key"]))) for e in envs]
        for k, (name, pgr, cell) in enumerate(series):
            if not pgr or pgr.get("mean") is None:
                continue
            y = y0 + 0.4 - (k + 1) * step
            lo, hi = pgr.get("lo"), pgr.get("hi")
            err = [[pgr["mean"] - lo], [hi - pgr["mean"]]] if lo is not None and hi is not None else None
            marker = "s" if k == 0 else ("^" if cell and cell.get("verdict") == "gain" else
                                         "v" if cell and cell.get("verdict") == "loss" else "o")
            ax.errorbar(pgr["mean"], y, xerr=err, fmt=marker, color=colors(k % 10), ms=5, lw=1,
                        label=name if row == 0 or name not in ax.get_legend_handles_labels()[1] else None)
            if cell and cell.get("vanilla_pgr", {}).get("mean") is not None:
                ax.plot([cell["vanilla_pgr"]["mean"]] * 2, [y - step / 3, y + step / 3], color="black", lw=1)
    ax.set_yticks([len(subjects) - i for i in range(len(subjects))], [s["label"][:40] for s in subjects], fontsize=7)
    ax.axvline(0, color="grey", lw=0.5)
    ax.axvline(1, color="grey", lw=0.5, ls=":")
    low, high = ax.get_xlim()
    ax.set_xlim(max(low, -2.0), min(high, 2.0))  # an environment without a weak-ceiling gap spans +-7: clip it
    ax.set_xlabel("PGR with 95% CI (black tick: vanilla in the same environment; axis clipped to [-2, 2])")
    ax.set_title("lab vs transfer")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return png_data_uri(fig)


def html_section(result: dict | None) -> str:
    if result is None:
        return ("<h2>Lab vs transfer</h2><p class='note'>No transfer gauntlet yet: run <code>aar transfer "
                "CAMPAIGN</code>.</p>")
    e = html.escape
    head = "".join(f"<th>{e(t)}</th>" for t in
                   ("entrant", "home", "lab: test PGR", *(env_title(x) for x in columns(result))))
    body = "".join("<tr>" + "".join(f"<td>{e(t)}</td>" for t in [s["label"], s["task"], *texts]) + "</tr>"
                   for s, texts in rows(result))
    verdicts = "".join(
        f"<li>{e(s['label'])}: {v['gains']} significant gain(s), {v['losses']} loss(es), above vanilla in "
        f"{v['above_vanilla']} of {v['environments']} environments"
        + (f", {v['not_applicable']} not applicable" if v["not_applicable"] else "")
        + (f", {v['errors']} failed" if v["errors"] else "") + "</li>"
        for s in result["subjects"] if s["kind"] == "submission" for v in [result["verdicts"][s["key"]]])
    pairs = ", ".join(f"{p['weak']} → {p['strong']}" for p in result["pairs"])
    return f"""<h2>Lab vs transfer</h2>
<p class="note">Top {result['top_k']} verified method(s) per task and the baselines, re-run untouched on
{len(result['seeds'])} fresh seeds ({', '.join(map(str, result['seeds']))}) and the holdout split that nobody saw during
the campaign: on the home task, on the other tasks, and with other weak → strong pairs ({e(pairs)}; the lab pair
was {e(result['lab_pair']['weak'])} → {e(result['lab_pair']['strong'])}). Each cell: PGR [95% CI] (bootstrap over
seeds and clustered items), ▲/▼ a gain/loss against vanilla there that is significant after Holm correction across
all cells, · not significant; Δ the PGR difference to vanilla, p the Holm-adjusted paired p-value.</p>
<table><tr>{head}</tr>{body}</table>
<ul>{verdicts}</ul>
<img alt="lab vs transfer PGR" src="{forest_plot(result)}">"""
