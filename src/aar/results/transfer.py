"""``transfer.json``: the transfer gauntlet's result (written by the campaign's gauntlet, read by the report, the
dashboard and the CLI), and the text of its table cells, which all three show.

One row per entrant; the lab column is the campaign's verified test PGR, every other column a transfer
environment: PGR [95% CI], the difference to vanilla there, and the verdict after Holm correction across the
whole gauntlet (``gain``/``loss`` significant, ``n.s.`` not)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from aar.errors import AarError
from aar.fsio import write_text_atomic
from aar.results.intervals import format_interval
from aar.results.verification import ExecutionPlace, IntervalRecord

TRANSFER_FILE = "transfer.json"
MARK = {"gain": "▲", "loss": "▼", "n.s.": "·"}
Verdict = Literal["gain", "loss", "n.s."]


class PairRecord(BaseModel):
    model_config = ConfigDict(frozen=True)
    weak: str
    strong: str  # "" means each task's default strong model


class EnvironmentRecord(BaseModel):
    """A column of the gauntlet: the home task's holdout, another task, or another model pair."""

    key: str
    kind: Literal["holdout", "task", "pair"]
    task: str | None = None  # only for kind "task"
    pair: PairRecord

    @property
    def title(self) -> str:
        if self.kind == "holdout":
            return "holdout (home task)"
        if self.kind == "task":
            return f"task {self.task}"
        return f"pair {self.pair.weak} -> {self.pair.strong}"


class LabRecord(BaseModel):
    """The entrant's number in the campaign itself: server-verified test PGR (submissions: p Holm-corrected
    across the campaign's verified submissions; baselines: raw p vs vanilla on the verification seeds)."""

    pgr: IntervalRecord | None = None
    p: float | None = None
    p_holm: float | None = None
    seeds: list[int] = []
    split: str = "test"


class SubjectRecord(BaseModel):
    key: str
    kind: Literal["submission", "baseline"]
    task: str  # the home task: where it was developed (a baseline: the task of its row)
    entry: str
    params: dict[str, Any] = {}
    label: str
    lab: LabRecord = LabRecord()
    agent: str | None = None
    submission_id: int | None = None


class TransferCell(BaseModel):
    """One (entrant, environment) run. ``status`` ok: PGR with its interval, the paired test against vanilla in
    the same environment and, after correction, Holm/BH p and the verdict (vanilla's own cells get none);
    n/a: the method does not apply there; error: it failed (``reason``)."""

    subject: str = ""
    env: str = ""
    status: Literal["ok", "n/a", "error"]
    reason: str | None = None
    pgr: IntervalRecord | None = None
    student_acc: IntervalRecord | None = None
    weak_acc: IntervalRecord | None = None
    ceiling_acc: IntervalRecord | None = None
    vanilla_pgr: IntervalRecord | None = None
    diff: IntervalRecord | None = None
    p: float | None = None
    seeds: int | None = None
    items: int | None = None
    cached: bool = False
    executed_on: ExecutionPlace | None = None
    p_holm: float | None = None
    p_bh: float | None = None
    significant: bool | None = None
    verdict: Verdict | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class SubjectVerdicts(BaseModel):
    """Per entrant: environments tested, significant gains and losses vs vanilla, above vanilla at all."""

    environments: int = 0
    gains: int = 0
    losses: int = 0
    above_vanilla: int = 0
    not_applicable: int = 0
    errors: int = 0


class TransferResult(BaseModel):
    campaign: str
    created: str = ""
    wall_s: float = 0.0
    seeds: list[int]
    split: str = "holdout"
    lab_pair: PairRecord
    pairs: list[PairRecord] = []
    tasks: list[str] = []
    top_k: int = 0
    baselines: list[str] = []
    alpha: float = 0.05
    correction: str = "holm"
    environments: list[EnvironmentRecord]
    subjects: list[SubjectRecord]
    cells: list[TransferCell]
    verdicts: dict[str, SubjectVerdicts] = {}

    def index(self) -> dict[tuple[str, str], TransferCell]:
        """Cells by (entrant key, environment key); a view builds it once, not once per lookup."""
        return {(c.subject, c.env): c for c in self.cells}

    def to_json(self) -> str:
        """Fields never set stay out (a vanilla cell has no verdict, an ok cell no reason), as readers expect."""
        return self.model_dump_json(indent=2, exclude_unset=True) + "\n"


def save_transfer(folder: Path, result: TransferResult) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / TRANSFER_FILE
    write_text_atomic(path, result.to_json())
    return path


def load_transfer(folder: Path) -> TransferResult | None:
    """The gauntlet's result in ``folder``, or None when no gauntlet has run there."""
    path = folder / TRANSFER_FILE
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AarError(f"{path}: not a readable transfer result ({exc})") from exc
    missing = {"campaign", "environments", "subjects", "cells"} - set(raw) if isinstance(raw, dict) else {"*"}
    if missing:
        raise AarError(f"{path}: not a transfer result (missing {', '.join(sorted(missing))})")
    try:
        return TransferResult.model_validate(raw)
    except ValidationError as exc:
        raise AarError(f"{path}: not a transfer result ({str(exc).splitlines()[0]})") from None


def cell_text(cell: TransferCell | None, subject: SubjectRecord, env: EnvironmentRecord) -> str:
    if cell is None:
        return "home" if env.kind == "task" and env.task == subject.task else ""
    if not cell.ok:
        return cell.status
    if cell.pgr is None or cell.pgr.mean is None:
        return "undefined (no weak-ceiling gap)"
    text = format_interval(cell.pgr)
    if cell.verdict is not None:
        diff = cell.diff.mean if cell.diff else None
        text += f" {MARK[cell.verdict]}" + ("" if diff is None else f" Δ{diff:+.2f}") + f" p={cell.p_holm:.2f}"
    return text


def lab_text(subject: SubjectRecord) -> str:
    """Submissions: p Holm-corrected across the campaign's verified submissions; baselines: raw p vs vanilla."""
    lab = subject.lab
    text = format_interval(lab.pgr)
    if lab.p_holm is not None:
        return text + f" p={lab.p_holm:.2f}"
    return text + ("" if lab.p is None else f" p={lab.p:.2f} (raw)")


def header(result: TransferResult) -> list[str]:
    return ["entrant", "home", "lab: test PGR [95% CI]", *(e.title for e in result.environments)]


def rows(result: TransferResult) -> list[list[str]]:
    """Each entrant's row of text: label, home task, lab cell, then one cell per environment."""
    index = result.index()
    return [[s.label, s.task, lab_text(s), *(cell_text(index.get((s.key, e.key)), s, e) for e in result.environments)]
            for s in result.subjects]
