"""``transfer.json``: the transfer gauntlet's result (written by the campaign's gauntlet, read by the report, the
dashboard and the CLI), and the text of its table cells, which all three show.

One row per entrant; the lab column is the campaign's verified test PGR, every other column a transfer
environment: PGR [95% CI], the difference to vanilla there, and the verdict after Holm correction across the
whole gauntlet (``gain``/``loss`` significant, ``n.s.`` not)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aar.errors import AarError
from aar.fsio import write_json_atomic
from aar.results.intervals import format_interval

TRANSFER_FILE = "transfer.json"
MARK = {"gain": "▲", "loss": "▼", "n.s.": "·"}


def save_transfer(folder: Path, result: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / TRANSFER_FILE
    write_json_atomic(path, result)
    return path


def load_transfer(folder: Path) -> dict[str, Any] | None:
    """The gauntlet's result in ``folder``, or None when no gauntlet has run there."""
    path = folder / TRANSFER_FILE
    if not path.exists():
        return None
    try:
        result = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AarError(f"{path}: not a readable transfer result ({exc})") from exc
    missing = {"campaign", "environments", "subjects", "cells"} - set(result) if isinstance(result, dict) else {"*"}
    if missing:
        raise AarError(f"{path}: not a transfer result (missing {', '.join(sorted(missing))})")
    return result


def columns(result: dict) -> list[dict]:
    return list(result["environments"])


def env_title(env: dict) -> str:
    if env["kind"] == "holdout":
        return "holdout (home task)"
    if env["kind"] == "task":
        return f"task {env['task']}"
    return f"pair {env['pair']['weak']} -> {env['pair']['strong']}"


def cell_text(cell: dict | None, subject: dict, env: dict) -> str:
    if cell is None:
        return "home" if env["kind"] == "task" and env["task"] == subject["task"] else ""
    if cell["status"] != "ok":
        return cell["status"]
    if cell["pgr"].get("mean") is None:
        return "undefined (no weak-ceiling gap)"
    text = format_interval(cell["pgr"])
    if "verdict" in cell:
        diff = cell["diff"].get("mean")
        text += f" {MARK[cell['verdict']]}" + ("" if diff is None else f" Δ{diff:+.2f}") + f" p={cell['p_holm']:.2f}"
    return text


def lab_text(subject: dict) -> str:
    """Submissions: p Holm-corrected across the campaign's verified submissions; baselines: raw p vs vanilla."""
    lab = subject["lab"]
    text = format_interval(lab.get("pgr"))
    if lab.get("p_holm") is not None:
        return text + f" p={lab['p_holm']:.2f}"
    return text + ("" if lab.get("p") is None else f" p={lab['p']:.2f} (raw)")


def header(result: dict) -> list[str]:
    return ["entrant", "home", "lab: test PGR [95% CI]", *(env_title(e) for e in columns(result))]


def rows(result: dict) -> list[list[str]]:
    """Each entrant's row of text: label, home task, lab cell, then one cell per environment."""
    cells = {(c["subject"], c["env"]): c for c in result["cells"]}
    return [[s["label"], s["task"], lab_text(s),
             *(cell_text(cells.get((s["key"], e["key"])), s, e) for e in columns(result))]
            for s in result["subjects"]]
