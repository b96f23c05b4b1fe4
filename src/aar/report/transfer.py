"""The "lab vs transfer" view of a gauntlet (``transfer.json``, :mod:`aar.results.transfer`): a Rich table,
Markdown, and an HTML section with a forest plot. The cell texts come from the result module, so the terminal,
the report and the dashboard show the same words."""

from __future__ import annotations

from rich.table import Table

from aar.report.plots import png_data_uri
from aar.report.templating import environment
from aar.results.intervals import format_interval
from aar.results.transfer import MARK, columns, env_title, header, rows


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
        table.add_row(subject["label"], f"lab: {subject['task']} test", format_interval(lab.get("pgr")), "",
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
            table.add_row("", where, format_interval(cell["pgr"]) if cell["pgr"]["mean"] is not None else "undefined",
                          "" if diff is None or "verdict" not in cell else f"{diff:+.2f}",
                          f"{cell['p_holm']:.3f}" if "p_holm" in cell else "", MARK.get(cell.get("verdict", ""), ""))
        table.add_section()
    return table


def markdown(result: dict) -> str:
    head = header(result)
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for texts in rows(result):
        lines.append("| " + " | ".join(texts).replace("·", "n.s.") + " |")
    return "\n".join(lines)


def forest_plot(result: dict) -> str:
    """Per entrant: lab PGR and every transfer PGR with their 95% intervals, vanilla's PGR there as a tick."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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


def section_context(result: dict | None) -> dict:
    """What the report's ``_transfer.html`` partial shows: the same header and cell texts as the terminal."""
    if result is None:
        return {"transfer": None}
    verdicts = [(s["label"], result["verdicts"][s["key"]]) for s in result["subjects"] if s["kind"] == "submission"]
    return {"transfer": result, "header": header(result), "rows": rows(result), "verdicts": verdicts,
            "pairs": ", ".join(f"{p['weak']} → {p['strong']}" for p in result["pairs"]), "forest": forest_plot(result)}


def html_section(result: dict | None) -> str:
    return environment().get_template("_transfer.html").render(**section_context(result))
