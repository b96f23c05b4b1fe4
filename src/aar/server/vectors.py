"""Prediction vectors in the evaluation log: float64 in a canonical item order, the order stored once.

A logged vector must read back exactly (the integrity detectors compare vectors item by item, and the log
export hands them to auditors), and a campaign logs tens of thousands of them. As a JSON object keyed by item
id a 313-item vector takes about 8 KB; as 313 little-endian float64 values in the task's sorted dev-id order
it takes 2,504 bytes, and the order (the ids) is stored once in ``item_orders`` under its sha256. float64
holds every JSON number a client can send exactly, so decoding gives back the same floats.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from aar.server.models import Evaluation, ItemOrder

DTYPE = np.dtype("<f8")


def order_sha256(ids: list[str]) -> str:
    return hashlib.sha256(json.dumps(ids, separators=(",", ":")).encode()).hexdigest()


def encode(values: np.ndarray) -> bytes:
    """Values already in canonical order (:meth:`aar.server.scoring.DevScorer.vector`)."""
    return np.ascontiguousarray(values, dtype=DTYPE).tobytes()


def vector_sha256(order: str, vector: bytes) -> str:
    """The logged hash of a prediction vector: of its canonical form (the order's hash, then the values),
    so equal vectors hash equal whatever order a client sent the ids in. Rows logged before migration 0007
    carry ``sha256_json`` of the JSON object instead."""
    return hashlib.sha256(order.encode() + vector).hexdigest()


def decisions_sha256(order: str, values: np.ndarray) -> str:
    """The hash of a vector's decisions: which side of 0.5 each item falls on, the only thing a dev score
    reads. Two vectors that differ in their probabilities but not in a decision score the same on every
    subsample, so they count as one query (a repeat is answered with the earlier reply, for free)."""
    return hashlib.sha256(order.encode() + b"|decisions|" + np.packbits(values > 0.5).tobytes()).hexdigest()


def decode(vector: bytes, ids: list[str]) -> dict[str, float]:
    values = np.frombuffer(vector, dtype=DTYPE)
    if len(values) != len(ids):
        raise ValueError(f"a logged vector has {len(values)} values for an order of {len(ids)} items")
    return dict(zip(ids, values.tolist(), strict=True))


class VectorReader:
    """Reads logged predictions back as ``{id: p}``, old JSON rows and compact rows alike; each item order is
    loaded once per reader."""

    def __init__(self, session: Session):
        self.session = session
        self.orders: dict[str, list[str]] = {}

    def predictions(self, evaluation: Evaluation) -> dict[str, float]:
        if evaluation.vector is None:
            return dict(evaluation.predictions or {})
        sha = evaluation.item_order or ""
        if sha not in self.orders:
            ids = self.session.scalar(select(ItemOrder.ids).where(ItemOrder.sha256 == sha))
            if ids is None:
                raise ValueError(f"evaluation {evaluation.id} refers to a missing item order {sha[:12]}")
            self.orders[sha] = list(ids)
        return decode(evaluation.vector, self.orders[sha])
