"""The data model of a W2S task: examples with stable ids, grouped, in five frozen splits.

Two input formats mirror the reference release: ``pair`` (prompt, first, second; label 1 when ``first``
is the better response) and ``choice`` (question, choice; label 1 when the proposed choice is correct).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Format = Literal["pair", "choice"]
SPLITS: tuple[str, ...] = ("train_label", "train_unlabel", "dev", "test", "holdout")
# What agents may ever see (train_label with labels inside a method's bundle, the rest without). Test inputs
# are private: a method meets them for the first time inside verification, so labels worked out by reading
# inputs cannot be hard-coded. ``holdout`` is never shown to anyone and never scored during a campaign: only
# the transfer gauntlet (:mod:`aar.campaign.transfer`) scores it, once the lab work is over.
PUBLIC_SPLITS: tuple[str, ...] = ("train_label", "train_unlabel", "dev")
FIELDS: dict[str, tuple[str, ...]] = {"pair": ("prompt", "first", "second"), "choice": ("question", "choice")}


@dataclass(frozen=True)
class Example:
    """One item. ``group`` ties items that share a source problem, so splits never leak a problem."""

    id: str
    group: str
    inputs: dict[str, str]
    label: int | None = None

    @property
    def y(self) -> int:
        """The label of a labelled example (a clear error on a public one, which has none)."""
        if self.label is None:
            raise ValueError(f"example {self.id!r} has no label (a public copy)")
        return int(self.label)

    def public(self) -> Example:
        """The same example without its label: what methods and agents may see."""
        return Example(id=self.id, group=self.group, inputs=self.inputs, label=None)


@dataclass
class TaskData:
    """A built task: its splits plus provenance that the README table and the server report."""

    name: str
    format: Format
    splits: dict[str, list[Example]]
    source: dict[str, str] = field(default_factory=dict)
    content_hash: str = ""

    def views(self) -> tuple[str, ...]:
        return FIELDS[self.format]
