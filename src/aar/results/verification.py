"""A verified submission's result: what the server's worker stores in ``submissions.result`` and everything
downstream reads (leaderboard, dashboard, integrity scan, campaign results, transfer gauntlet, report).

One model, validated on the way in (the worker writes it) and on the way out (:meth:`VerificationResult.read`
of the database's JSON column), so a reader uses attributes, never string keys into a dict whose shape it
guesses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from aar.results.attribution import AttributionRecord
from aar.results.intervals import IntervalRecord


class PairedRecord(BaseModel):
    """The paired test against vanilla on the same seeds and items: PGR difference and two-sided p."""

    model_config = ConfigDict(frozen=True)
    diff: IntervalRecord = IntervalRecord()
    p_value: float | None = None


class AuditSummary(BaseModel):
    """What the method tried inside its sandbox, from the child's keyed audit stream (aar.sandbox.audit):
    counts per kind, the first events, whether the stream ended properly, and why it is not trustworthy."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    counts: dict[str, int] = {}
    events: list[dict[str, Any]] = []
    complete: bool = False
    problem: str | None = None
    checkpoints: int = 0

    def events_of(self, kind: str, limit: int = 5) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("kind") == kind][:limit]


class ExecutionPlace(BaseModel):
    """Where the submitted code ran: the executor (local or ray), the host, and whether it was sandboxed."""

    model_config = ConfigDict(frozen=True, extra="allow")
    executor: str = "local"
    host: str | None = None
    sandboxed: bool = True


class VerificationResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    seeds: int = 0
    test_items: int = 0
    pgr: IntervalRecord = IntervalRecord()
    student_acc: IntervalRecord = IntervalRecord()
    weak_acc: IntervalRecord = IntervalRecord()
    ceiling_acc: IntervalRecord = IntervalRecord()
    dev_pgr: IntervalRecord = IntervalRecord()
    vanilla_pgr: IntervalRecord = IntervalRecord()
    vs_vanilla: PairedRecord = PairedRecord()
    # the paper's naive baseline (the student on the teacher's soft labels), on the same seeds; None in results
    # from before it was reported. Every ranking and correction still uses vanilla (hard labels): see Methods.
    soft_pgr: IntervalRecord | None = None
    vs_soft: PairedRecord | None = None
    audit: AuditSummary | None = None  # None only in results from before the audit existed
    executed_on: ExecutionPlace | None = None
    reused_from: int | None = None  # the identical, already verified submission whose result this is
    attribution: AttributionRecord | None = None  # where the gain came from (None: verified before attribution)

    @classmethod
    def read(cls, raw: dict[str, Any] | None) -> VerificationResult | None:
        """The database column's value, validated; None for a submission without a result."""
        return None if not raw else cls.model_validate(raw)

    def to_json(self) -> dict[str, Any]:
        """Only the fields that were set: a stored row reads back with exactly its keys (no ``reused_from`` on
        a result that was computed, not reused)."""
        return self.model_dump(mode="json", exclude_unset=True)

    @property
    def p_vs_vanilla(self) -> float | None:
        return self.vs_vanilla.p_value

    @property
    def p_vs_soft(self) -> float | None:
        return self.vs_soft.p_value if self.vs_soft is not None else None

    @property
    def above_ceiling(self) -> bool:
        """Mean test accuracy above the upper 95% bound of the ceiling's: the student beat the strong model
        trained on the true labels by more than noise allows."""
        mean, hi = self.student_acc.mean, self.ceiling_acc.hi
        return mean is not None and hi is not None and mean > hi
