"""The "lab vs transfer" view of a gauntlet (``transfer.json``, :mod:`aar.results.transfer`): a Rich table,
Markdown, and an HTML section with a forest plot. The cell texts come from the result module, so the terminal,
the report and the dashboard show the same words."""

from __future__ import annotations

from rich.table import Table

from aar.report.plots import png_data_uri
from aar.report.templating import environment
from aar.results.intervals import IntervalRecord, format_interval, format_p
from aar.results.transfer import MARK, TransferCell, TransferResult, header, rows


def terminal_table(result: TransferResult) -> Table:
    """Long format (one row per entrant and environment), so it stays legible in an 80-column terminal."""
    tested, index = sum(c.verdict is not None for c in result.cells), result.index()
    table = Table(title=f"transfer gauntlet {result.campaign}: {len(result.seeds)} fresh seeds, holdout split; "
                        f"Holm across {tested} cells", caption="▲ significant gain, ▼ significant loss, · n.s. "
                        "(vs vanilla in the same environment)")
    for title in ("entrant", "where", "PGR [95% CI]", "Δ vs vanilla", "p (Holm)", ""):
        table.add_column(title)
    for subject in result.subjects:
        lab = subject.lab
        lab_p = lab.p_holm if lab.p_holm is not None else lab.p
        table.add_row(subject.label, f"lab: {subject.task} test", format_interval(lab.pgr), "",
                      "" if lab_p is None else format_p(lab_p) + ("" if lab.p_holm is not None else " raw"), "")
        for env in result.environments:
            cell = index.get((subject.key, env.key))
            if cell is None:
                continue
            where = env.title.replace("holdout (home task)", f"holdout: {subject.task}")
            if not cell.ok:
                table.add_row("", where, cell.status, "", "", "")
                continue
            diff = cell.diff.mean if cell.diff else None
            defined = cell.pgr is not None and cell.pgr.mean is not None
            table.add_row("", where, format_interval(cell.pgr) if defined else "undefined",
                          "" if diff is None or cell.verdict is None else f"{diff:+.2f}",
                          "" if cell.p_holm is None else format_p(cell.p_holm), MARK.get(cell.verdict or "", ""))
        table.add_section()
    return table


def markdown(result: TransferResult) -> str:
    head = header(result)
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for texts in rows(result):
        lines.append("| " + " | ".join(texts).replace("·", "n.s.") + " |")
    return "\n".join(lines)


def forest_plot(result: TransferResult) -> str:
    """Per entrant: lab PGR and every transfer PGR with their 95% intervals, vanilla's PGR there as a tick."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs, subjects, index = result.environments, result.subjects, result.index()
    colors = plt.get_cmap("tab10")
    step = 1.0 / (len(envs) + 2)
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(subjects) * (len(envs) + 1) ** 0.5 + 1.5))
    for row, subject in enumerate(subjects):
        y0 = len(subjects) - row
        series: list[tuple[str, IntervalRecord | None, TransferCell | None]] = [("lab (test)", subject.lab.pgr, None)]
        for e in envs:
            cell = index.get((subject.key, e.key))
            series.append((e.title, cell.pgr if cell else None, cell))
        for k, (name, pgr, cell) in enumerate(series):
            if pgr is None or pgr.mean is None:
                continue
            y = y0 + 0.4 - (k + 1) * step
            err = [[pgr.mean - pgr.lo], [pgr.hi - pgr.mean]] if pgr.lo is not None and pgr.hi is not None else None
            verdict = cell.verdict if cell else None
            marker = "s" if k == 0 else ("^" if verdict == "gain" else "v" if verdict == "loss" else "o")
            ax.errorbar(pgr.mean, y, xerr=err, fmt=marker, color=colors(k % 10), ms=5, lw=1,
                        label=name if row == 0 or name not in ax.get_legend_handles_labels()[1] else None)
            if cell and cell.vanilla_pgr is not None and cell.vanilla_pgr.mean is not None:
                ax.plot([cell.vanilla_pgr.mean] * 2, [y - step / 3, y + step / 3], color="black", lw=1)
    ax.set_yticks([len(subjects) - i for i in range(len(subjects))], [s.label[:40] for s in subjects], fontsize=7)
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


def section_context(result: TransferResult | None) -> dict:
    """What the report's ``_transfer.html`` partial shows: the same header and cell texts as the terminal."""
    if result is None:
        return {"transfer": None}
    verdicts = [(s.label, result.verdicts[s.key]) for s in result.subjects if s.kind == "submission"]
    return {"transfer": result, "header": header(result), "rows": rows(result), "verdicts": verdicts,
            "pairs": ", ".join(f"{p.weak} → {p.strong}" for p in result.pairs), "forest": forest_plot(result)}


def html_section(result: TransferResult | None) -> str:
    return environment().get_template("_transfer.html").render(**section_context(result))
