"""Frozen splits: an example's split is a pure function of its group's content hash.

Adding, removing or reordering other examples never moves an example to another split, and all items
of one source problem land in the same split, so test problems are never seen in training.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from aar.errors import AarError
from aar.fsio import sha256_json
from aar.tasks.schema import SPLITS, Example

DEFAULT_FRACTIONS: dict[str, float] = {"train_label": 0.15, "train_unlabel": 0.35, "dev": 0.10, "test": 0.25,
                                       "holdout": 0.15}
HOLDOUT_OF_TEST = 0.4  # an imported reference ``test`` file gives this share of its groups to ``holdout``


def _unit(key: str, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(
    examples: list[Example], fractions: Mapping[str, float] = DEFAULT_FRACTIONS, salt: str = "aar-v1"
) -> dict[str, list[Example]]:
    if set(fractions) != set(SPLITS) or abs(sum(fractions.values()) - 1) > 1e-9:
        raise AarError(f"split fractions must cover {SPLITS} and sum to 1, got {dict(fractions)}")
    edges, acc = [], 0.0
    for name in SPLITS:
        acc += fractions[name]
        edges.append((acc, name))
    out: dict[str, list[Example]] = {name: [] for name in SPLITS}
    for ex in examples:
        u = _unit(ex.group, salt)
        out[next(name for edge, name in edges if u < edge or edge == edges[-1][0])].append(ex)
    for name in SPLITS:
        out[name].sort(key=lambda e: e.id)
    return out


def carve(rows: list[Example], fraction: float, salt: str) -> tuple[list[Example], list[Example]]:
    """Split ``rows`` into (rest, carved) by group hash: the carved share never depends on other rows."""
    carved = [e for e in rows if _unit(e.group, salt) < fraction]
    rest = [e for e in rows if _unit(e.group, salt) >= fraction]
    return rest, carved


def carve_dev(test: list[Example], fraction: float = 0.25) -> tuple[list[Example], list[Example]]:
    """Split a reference ``test`` file into (test, dev) by group hash when no dev file is given."""
    return carve(test, fraction, "aar-dev")


def carve_holdout(test: list[Example], fraction: float = HOLDOUT_OF_TEST) -> tuple[list[Example], list[Example]]:
    """Split a reference ``test`` file into (test, holdout) when no holdout file is given."""
    return carve(test, fraction, "aar-holdout")


def validate_splits(name: str, splits: Mapping[str, list[Example]]) -> None:
    """Reject datasets that cannot give a meaningful PGR: empty splits, one class, duplicate ids."""
    seen: dict[str, str] = {}
    for split in SPLITS:
        rows = splits.get(split)
        if not rows:
            raise AarError(f"task {name!r}: split {split!r} is empty")
        labels = {e.label for e in rows}
        if None in labels:
            raise AarError(f"task {name!r}: split {split!r} has examples without labels")
        if len(labels) < 2:
            raise AarError(f"task {name!r}: split {split!r} has only one class ({labels.pop()})")
        for e in rows:
            if e.id in seen:
                raise AarError(f"task {name!r}: id {e.id!r} is in both {seen[e.id]!r} and {split!r}")
            seen[e.id] = split


def content_hash(splits: Mapping[str, list[Example]]) -> str:
    return sha256_json(
        {s: [[e.id, e.group, e.inputs, e.label] for e in splits[s]] for s in SPLITS}
    )


def class_prior(rows: list[Example]) -> float:
    return sum(int(e.label or 0) for e in rows) / max(1, len(rows))
