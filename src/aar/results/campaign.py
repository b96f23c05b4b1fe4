"""``results.json``: a finished campaign, as `aar run` writes it and `aar report`, the HTML report and the
terminal summary read it. Submission results inside are :class:`VerificationResult`; p-values are corrected
across the campaign's verified submissions (Holm, Benjamini-Hochberg)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aar.errors import AarError
from aar.fsio import write_text_atomic
from aar.results.api import AgentView, QueueRow
from aar.results.submission import SubmissionStatus
from aar.results.verification import IntervalRecord, VerificationResult

RESULTS_FILE = "results.json"


AgentRow = AgentView  # one researcher's accounting at the end: the server's admin view of the agent


class SubmissionRow(QueueRow):
    """A submission at the end of a campaign: the admin queue's row with its corrected p-values."""

    p_holm: float | None = None  # corrected across the campaign's verified submissions; None if not verified
    p_bh: float | None = None

    @property
    def inherited_from(self) -> str | None:
        return None if self.inherited is None else str(self.inherited.get("campaign"))


class BestRow(BaseModel):
    """A task's best verified submission of one attribution class by server-verified test PGR, with the part of
    it that needs the teacher (the teacher-dependent PGR)."""

    model_config = ConfigDict(populate_by_name=True)
    submission: int
    agent: str
    entry: str
    pgr: IntervalRecord
    dev_pgr: IntervalRecord
    p_vs_vanilla: float | None
    p_vs_soft: float | None = None  # against the paper's naive baseline (soft labels), uncorrected; None before
    # the smallest PGR difference from vanilla its paired test finds at p < 0.01 with 80% power (aar.stats.power)
    detectable: float | None = None
    p_holm: float
    p_bh: float
    significant_holm: bool = Field(alias="significant_holm_0.05")
    dev_test_gap: float
    attribution_class: str = "unattributed"
    teacher_pgr: float | None = None
    teacher_pgr_interval: IntervalRecord = IntervalRecord()
    inherited_from: str | None = None  # an earlier campaign's method (re-verified here), not a result of this one

    @property
    def by(self) -> str:
        """Who the row is by, saying when it is not new: ``agent (inherited from CAMPAIGN)``."""
        if self.inherited_from is None:
            return self.agent
        original = self.agent.split("~", 1)[-1]
        return f"{original} (inherited from {self.inherited_from})"

    @classmethod
    def of(cls, row: SubmissionRow) -> BestRow:
        r = row.result
        assert r is not None and row.p_holm is not None and row.p_bh is not None
        a = r.attribution
        return cls(submission=row.id, agent=row.agent, entry=row.entry, pgr=r.pgr, dev_pgr=r.dev_pgr,
                   p_vs_vanilla=r.p_vs_vanilla, p_vs_soft=r.p_vs_soft, p_holm=row.p_holm, p_bh=row.p_bh,
                   **{"significant_holm_0.05": row.p_holm < 0.05},
                   dev_test_gap=(r.dev_pgr.mean or 0) - (r.pgr.mean or 0),
                   attribution_class=attribution_class(r),
                   teacher_pgr=a.teacher_pgr if a is not None else None,
                   teacher_pgr_interval=a.decomposition.teacher_interval if a is not None else IntervalRecord(),
                   inherited_from=row.inherited_from)


def attribution_class(result: VerificationResult | None) -> str:
    """The class a table shows: the attribution's, or ``unattributed`` for a result verified before it."""
    return str(result.attribution.kind) if result is not None and result.attribution is not None else "unattributed"


class TaskRow(BaseModel):
    """A task's headline: its best weak-to-strong result (``w2s``, or verified before attribution existed) and,
    listed apart, its best zero-shot result."""

    vanilla_pgr: IntervalRecord | None = None
    best: BestRow | None = None
    best_zero_shot: BestRow | None = None
    # when the best weak-to-strong result is an earlier campaign's: this campaign's own best, the one to compare
    best_new: BestRow | None = None
    verified_submissions: int = 0


class FindingRow(BaseModel):
    detector: str
    severity: str
    agent: str
    task: str | None = None
    submission: int | None = None
    summary: str


class CampaignResults(BaseModel):
    model_config = ConfigDict(extra="ignore")
    campaign: str
    wall_s: float
    cost_usd: float
    dev_evaluations: int
    agents: list[AgentRow]
    tasks: dict[str, TaskRow]
    integrity: list[FindingRow] = []
    submissions: list[SubmissionRow] = []

    @property
    def verified(self) -> list[SubmissionRow]:
        return [s for s in self.submissions if s.status == SubmissionStatus.VERIFIED and s.result is not None]

    def save(self, folder: Path) -> Path:
        path = folder / RESULTS_FILE
        write_text_atomic(path, self.model_dump_json(indent=2, by_alias=True) + "\n")
        return path

    @classmethod
    def load(cls, folder: Path) -> CampaignResults:
        path = folder / RESULTS_FILE
        if not path.exists():
            raise AarError(f"{folder.name} has no {RESULTS_FILE} yet (the campaign has not finished)")
        try:
            return cls.model_validate(json.loads(path.read_text()))
        except (OSError, ValueError, ValidationError) as exc:
            raise AarError(f"{path}: not a campaign result ({str(exc).splitlines()[0]})") from None
