"""Label tables carried in a submission's code: lists of 0/1 (or probabilities), bit strings, and maps from item
ids to labels, in any file of the snapshot (source, JSON, ``.npy``/``.npz``), compared with the true labels of
every split on the trusted side.

A method that carries labels it obtained earlier (decoded from dev feedback, copied from a forum post, read off
a public dataset) can distil them into the student, and no ablation that keeps the code unchanged can tell: the
knowledge is in the code. What can be told is whether a table in the code agrees with a split's labels far more
often than chance. Chance here is independence: a table that is mostly ones agrees with mostly-one labels
often without knowing any of them, so the expected agreement is ``q r + (1 - q)(1 - r)`` for a table's share
of ones ``q`` and the labels' ``r``, and the binomial tail against that is the evidence.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import zipfile
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

from aar.snapshots import members

MIN_ITEMS = 40  # shorter tables are too weak to prove anything and too common in ordinary code
P_FLAG = 1e-6  # binomial tail beyond which agreement is not chance
MIN_AGREEMENT_GAIN = 0.1  # and the agreement beats independence by at least this much
MAX_ARRAY_BYTES = 16 * 2**20  # an .npz member that expands past this is not read
BITS = re.compile(r"(?<![0-9])[01]{" + str(MIN_ITEMS) + r",}(?![0-9])")
LIST = re.compile(r"[\[(]([^\[\]()]{" + str(2 * MIN_ITEMS) + r",})[\])]")
ID_VALUE = re.compile(r"['\"]([A-Za-z0-9_.:-]{4,64})['\"]\s*:\s*(True|False|true|false|[01](?:\.\d+)?|0?\.\d+)")
TRUE = {"true": 1.0, "false": 0.0}


@dataclass(frozen=True)
class Table:
    file: str
    values: np.ndarray  # in [0, 1]
    ids: tuple[str, ...] | None = None  # an id -> label map's keys, in order


def _number(token: str) -> float | None:
    token = token.strip().strip("'\"").lower()
    if token in TRUE:
        return TRUE[token]
    try:
        value = float(token)
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 and math.isfinite(value) else None


def tables_in_text(name: str, text: str) -> list[Table]:
    found = [Table(name, np.array([float(c) for c in m.group()])) for m in BITS.finditer(text)]
    for m in LIST.finditer(text):
        values = [_number(t) for t in m.group(1).split(",") if t.strip()]
        if len(values) >= MIN_ITEMS and all(v is not None for v in values):
            found.append(Table(name, np.array(values, dtype=float)))
    pairs = ID_VALUE.findall(text)
    if len(pairs) >= MIN_ITEMS:
        found.append(Table(name, np.array([_number(v) for _, v in pairs], dtype=float),
                           tuple(k for k, _ in pairs)))
    return found


def _arrays(data: bytes) -> list[np.ndarray]:
    """The arrays of an ``.npy`` or ``.npz`` file written by the submitter: no pickles, and an archive whose
    members would expand past ``MAX_ARRAY_BYTES`` (a zip bomb inside a 1 MB snapshot file) is not opened."""
    try:
        if data[:2] == b"PK":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if any(member.file_size > MAX_ARRAY_BYTES for member in archive.infolist()):
                    return []
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
        return [loaded[k] for k in loaded.files] if hasattr(loaded, "files") else [loaded]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile):
        return []


def tables_in_file(name: str, data: bytes) -> list[Table]:
    if name.endswith((".npy", ".npz")):
        return [Table(name, a.astype(float).ravel()) for a in _arrays(data)
                if a.size >= MIN_ITEMS and a.dtype.kind in "biuf" and np.all((a >= 0) & (a <= 1))]
    text = data.decode("utf-8", errors="replace")
    if name.endswith(".json"):
        with contextlib.suppress(ValueError, RecursionError):  # submitted bytes: not JSON, or nested to crash us
            text = json.dumps(json.loads(text))  # one canonical layout for the patterns
    return tables_in_text(name, text)


def _agreement(values: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    """Share of agreement, what independence predicts, and the two-sided binomial tail (a table of inverted
    labels knows them as well as a table of labels)."""
    decided, truth = values > 0.5, labels.astype(bool)
    agree = int(np.sum(decided == truth))
    q, r = float(decided.mean()), float(truth.mean())
    chance = min(max(q * r + (1 - q) * (1 - r), 1e-9), 1 - 1e-9)
    p = binomtest(agree, len(truth), chance, alternative="two-sided").pvalue
    return agree / len(truth), chance, float(p)


def carried_labels(snapshot: bytes, splits: dict[str, tuple[list[str], np.ndarray]]) -> list[dict]:
    """Every table in the snapshot that agrees with a split's labels beyond chance. ``splits``: split name ->
    (item ids in the split's order, labels)."""
    by_id = {i: int(y) for ids, labels in splits.values() for i, y in zip(ids, labels, strict=True)}
    found = []
    for name, data in members(snapshot).items():
        for table in tables_in_file(name, data):
            if table.ids is not None:
                known = [(v, by_id[i]) for i, v in zip(table.ids, table.values, strict=True) if i in by_id]
                if len(known) < MIN_ITEMS:
                    continue
                values, labels = np.array([k[0] for k in known]), np.array([k[1] for k in known])
                where, matched = "item ids", len(known)
                candidates = [(where, values, labels, matched)]
            else:
                candidates = [(f"{split} in order", table.values, labels, len(labels))
                              for split, (_, labels) in splits.items() if len(labels) == len(table.values)]
            for where, values, labels, matched in candidates:
                share, chance, p = _agreement(values, labels)
                if p < P_FLAG and abs(share - chance) >= MIN_AGREEMENT_GAIN:
                    found.append({"file": name, "matches": where, "items": matched, "agreement": round(share, 4),
                                  "chance": round(chance, 4), "p_value": p})
    return found
