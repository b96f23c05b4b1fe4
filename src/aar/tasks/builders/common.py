"""What every builder shares: vendored files checked against their recorded SHA-256, and keyed splits."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from collections.abc import Callable, Hashable, Iterator, Mapping
from pathlib import Path

from aar.errors import AarError
from aar.secret_keys import keyed_rng, keyed_unit
from aar.tasks.schema import SPLITS, Example

VENDORED = Path(__file__).resolve().parents[1] / "vendored"
KEY = "task"
# More of each task goes to test than the classic 25%: the PGR interval's width falls with the square root of
# the test set, and power is what the testbed is for (README, "Testbed").
FRACTIONS: dict[str, float] = {"train_label": 0.12, "train_unlabel": 0.33, "dev": 0.12, "test": 0.33,
                               "holdout": 0.10}


def vendored_bytes(relative: str, sha256: str) -> bytes:
    """The uncompressed content of a vendored ``.gz`` file, refused if it is not the recorded content."""
    path = VENDORED / relative
    try:
        data = gzip.decompress(path.read_bytes())
    except OSError as exc:
        raise AarError(f"{path}: cannot read vendored data ({exc})") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise AarError(f"{path}: content does not match its recorded SHA-256; restore it from git")
    return data


def vendored_jsonl(relative: str, sha256: str) -> Iterator[dict]:
    for line in vendored_bytes(relative, sha256).decode("utf-8").splitlines():
        if line.strip():
            yield json.loads(line)


def split_of(task: str, group: str, fractions: Mapping[str, float] = FRACTIONS) -> str:
    """The split of a group: a keyed hash, so which items are test items cannot be computed elsewhere."""
    u, edge = keyed_unit(KEY, f"{task}:split:{group}"), 0.0
    for name in SPLITS:
        edge += fractions[name]
        if u < edge:
            return name
    return SPLITS[-1]


def rng(task: str, purpose: str):
    return keyed_rng(KEY, f"{task}:{purpose}")


def balance(items: list[Example], stratum: Callable[[Example], Hashable], r: random.Random) -> list[Example]:
    """Keep as many positives as negatives in every stratum (which ones: a keyed draw), so that the stratum
    (a length, a length difference) says nothing about the label. Real data has such artefacts (wrong GSM8K
    solutions run longer; HH-RLHF's chosen replies differ in length), and so do generated flaws; a label that a
    ruler can read is a leak, not weak-to-strong generalisation."""
    by: dict[Hashable, dict[int, list[Example]]] = {}
    for e in items:
        by.setdefault(stratum(e), {0: [], 1: []})[e.y].append(e)
    kept: list[Example] = []
    for key in sorted(by, key=repr):
        neg, pos = by[key][0], by[key][1]
        n = min(len(neg), len(pos))
        kept += r.sample(neg, n) + r.sample(pos, n)
    return sorted(kept, key=lambda e: e.id)
