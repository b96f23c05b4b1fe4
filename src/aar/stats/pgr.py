"""PGR, defined once: ``(student - weak) / (ceiling - weak)``.

Where the weak-ceiling gap is zero (to ``ZERO_GAP``) PGR is undefined: NaN in arrays (bootstrap draws drop
it), None for a single number (JSON null). Every PGR the platform shows, server-side dev scores and
bootstrap intervals alike, is computed here, so they agree on when a gap counts as zero."""

from __future__ import annotations

import math

import numpy as np

ZERO_GAP = 1e-9


def pgr(weak: np.ndarray | float, ceiling: np.ndarray | float, student: np.ndarray | float) -> np.ndarray:
    """Elementwise PGR over arrays (e.g. bootstrap draws); NaN where the gap is zero."""
    weak = np.asarray(weak, dtype=np.float64)
    gap = np.asarray(ceiling, dtype=np.float64) - weak
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(gap) > ZERO_GAP, (np.asarray(student, dtype=np.float64) - weak) / gap, np.nan)


def pgr_value(weak: float, ceiling: float, student: float) -> float | None:
    """One PGR as a number, or None where it is undefined."""
    value = float(pgr(weak, ceiling, student))
    return None if math.isnan(value) else value
