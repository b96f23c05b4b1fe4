"""A finding: which detector fired, how serious it is, about whom, and the evidence a reviewer needs."""

from __future__ import annotations

from dataclasses import dataclass, field

from aar.results.findings import finding_fingerprint

# critical and warning flag (quarantine until reviewed); notice is shown but does not quarantine (for
# example a teacher-independent method, legitimate for unsupervised elicitation).
SEVERITIES = ("critical", "warning", "notice")
FLAGGING = ("critical", "warning")


@dataclass
class Finding:
    detector: str
    severity: str
    agent: str
    summary: str
    evidence: dict = field(default_factory=dict)
    submission_id: int | None = None
    task: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}")

    @property
    def flags(self) -> bool:
        return self.severity in FLAGGING

    def fingerprint(self) -> str:
        return finding_fingerprint(self.detector, self.agent, self.submission_id, self.task)
