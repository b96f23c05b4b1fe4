"""Where a verified gain came from: the knowledge-source ablations of one submission, the decomposition of its
PGR, its class, and the campaign policy that says which classes may rank.

A weak-to-strong result is one where the **weak teacher's supervision, through the strong model**, produced
the gain. Three re-runs of the submitted code on the trusted side, on the verification seeds, take one source
away each (:mod:`aar.execution.attribution` runs them):

- ``no_teacher``: the teacher's soft labels shuffled across items;
- ``no_text``: every raw text the method can read replaced by opaque stand-ins of the same lengths;
- ``no_strong``: the teacher shuffled *and* every strong feature replaced by noise (nothing a weak-to-strong
  method may learn from is left).

Classes, first match wins:

- ``researcher-knowledge``: the student still beats the weak model with neither teacher nor strong features,
  or the code carries label tables: the labels came from somewhere else. Never allowed.
- ``reads-text``: hiding the raw text costs a significant part of the gain: the method reads the inputs with
  its own rules (and perhaps distils what it read into the student). Quarantined unless the campaign allows it.
- ``zero-shot``: most of the gain survives without the teacher: the strong model's own knowledge, elicited
  (legitimate, and shown as such, but not a weak-to-strong gain).
- ``w2s``: the gain needs the teacher.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from aar.results.intervals import IntervalRecord


class AttributionClass(StrEnum):
    W2S = "w2s"
    ZERO_SHOT = "zero-shot"
    READS_TEXT = "reads-text"
    RESEARCHER_KNOWLEDGE = "researcher-knowledge"


# Ablations run on the first verification seeds only. Each one is a whole sandboxed re-run, so attribution
# costs one to three more runs of the method; the paired tests' power comes mostly from the ~1-2k test items,
# and the decisions they feed are large (an honest method's text drop is exactly 0, a W2S student without its
# teacher falls to chance). Measured cost per submission: README, attribution section.
ATTRIBUTION_SEEDS = 3
# A text drop counts when it is significant (paired p below this) and material (at least this much PGR).
TEXT_P, TEXT_DROP = 0.01, 0.05
# Zero-shot: more than this share of a positive PGR survives without the teacher, and what survives is above 0.
ZERO_SHOT_SHARE = 0.5


class AttributionPolicy(BaseModel):
    """What a campaign lets rank. Set at campaign creation and stated in the researchers' brief."""

    model_config = ConfigDict(frozen=True)
    allow_zero_shot: bool = True  # zero-shot results are shown (labelled) and rank among themselves
    allow_text_reading: bool = False  # text readers are quarantined

    def allows(self, kind: AttributionClass) -> bool:
        return {AttributionClass.W2S: True, AttributionClass.ZERO_SHOT: self.allow_zero_shot,
                AttributionClass.READS_TEXT: self.allow_text_reading,
                AttributionClass.RESEARCHER_KNOWLEDGE: False}[kind]


class AblationRecord(BaseModel):
    """One ablation re-run, scored like the verified run and paired with it on the same seeds and items."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    # ok | failed (the method raised or timed out under the ablation) | not_applicable | skipped (its answer was
    # already known: aar.execution.attribution.attribute says when)
    status: str = "ok"
    reason: str | None = None
    pgr: IntervalRecord = IntervalRecord()
    student_acc: IntervalRecord = IntervalRecord()
    drop: IntervalRecord = IntervalRecord()  # verified PGR minus this PGR (paired bootstrap)
    p_value: float | None = None  # two-sided, of the drop
    agreement: float | None = None  # share of test items predicted in the same class as the verified run
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Decomposition(BaseModel):
    """The verified PGR split into three parts that add up to it (for a positive PGR; each part clipped to
    [0, PGR]): what needs the teacher, what survives without it but needs the strong model (its prior, zero-shot
    elicitation), and what needs neither (read from text, or brought from outside). Intervals: the hierarchical
    bootstrap of each part on the attribution seeds (:mod:`aar.stats.decompose`)."""

    model_config = ConfigDict(frozen=True)
    teacher_interval: IntervalRecord = IntervalRecord()
    strong_prior_interval: IntervalRecord = IntervalRecord()
    researcher_interval: IntervalRecord = IntervalRecord()

    @property
    def teacher(self) -> float | None:
        return self.teacher_interval.mean

    @property
    def strong_prior(self) -> float | None:
        return self.strong_prior_interval.mean

    @property
    def researcher(self) -> float | None:
        return self.researcher_interval.mean


class AttributionRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    kind: AttributionClass = AttributionClass.W2S
    allowed: bool = True  # under the campaign's policy
    reasons: list[str] = []
    ablations: dict[str, AblationRecord] = {}
    decomposition: Decomposition = Decomposition()
    carried_labels: list[dict[str, Any]] = []  # label tables found in the code, with their agreement
    encoder_texts: dict[str, Any] = {}  # texts the method fed to a packaged encoder that are not task inputs
    beats_weak_without_sources: bool = False  # no_strong's accuracy interval lies above the weak model's bar
    text_ablation: str = "complete"  # complete | partial (an LM student reads prompts the method can read too)
    seeds: int = 0  # how many of the verification seeds the ablations ran on (the first ones)
    pgr: IntervalRecord = IntervalRecord()  # the verified PGR on those seeds: what the decomposition adds up to
    seconds: float = 0.0  # what the ablations cost on top of verification

    @property
    def teacher_pgr(self) -> float | None:
        """The teacher-dependent PGR: the part of the gain that needs the teacher."""
        return self.decomposition.teacher
