"""The decomposition of a PGR into what needs the teacher, what the strong model knows without it, and what
needs neither, with bootstrap intervals from the same resamples as every other PGR interval.

Given the verified student and its ablated re-runs on the same seeds and items (no teacher; no raw text; no
teacher and no strong features), each bootstrap draw computes, from that draw's PGRs ``P`` (verified), ``T``
(no teacher), ``X`` (no text) and ``N`` (neither):

- what survives without the teacher: ``S = clip(T, 0, P+)`` with ``P+ = max(P, 0)``;
- of that, what needs the raw text: ``R_text = clip(P - X, 0, S)``;
- of the rest, what needs neither source: ``R_out = clip(N, 0, S - R_text)``;
- teacher = ``P+ - S``; strong prior = ``S - R_text - R_out``; researcher = ``R_text + R_out``.

The three parts add up to ``P+`` in every draw, so their intervals are of the same quantity the table shows
(an interval of the raw paired drop ``P - T`` would run far above the point when ``T`` is negative, which a
W2S student's is: it falls to chance without its teacher). An ablation that failed took its source away and
left nothing (PGR 0); one that was not run leaves its part at 0 (``T`` or ``N`` at -inf, ``X`` at ``P``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from aar.stats.bootstrap import Interval, Resampler, _check, _interval
from aar.stats.pgr import pgr

Ablated = np.ndarray | float | None  # a correctness matrix, a fixed PGR (a failed run: 0.0), or not run (None)


@dataclass(frozen=True)
class Parts:
    teacher: Interval
    strong_prior: Interval
    researcher: Interval


def split_pgr(p: ArrayLike, t: ArrayLike, x: ArrayLike, n: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three parts (teacher, strong prior, researcher) of PGR ``p``, elementwise (numbers or arrays)."""
    p, t, x, n = (np.asarray(v, dtype=np.float64) for v in (p, t, x, n))
    total = np.maximum(p, 0.0)
    survives = np.clip(t, 0.0, total)
    from_text = np.clip(p - x, 0.0, survives)
    from_outside = np.clip(n, 0.0, survives - from_text)
    return total - survives, survives - from_text - from_outside, from_text + from_outside


def decompose_pgr(weak: np.ndarray, ceiling: np.ndarray, student: np.ndarray, no_teacher: Ablated,
                  no_text: Ablated, no_strong: Ablated, groups: np.ndarray | None = None, n_boot: int = 2000,
                  rng_seed: int = 0) -> Parts:
    """``weak``, ``ceiling``, ``student`` and each ablated matrix: 0/1 correctness, (seeds, items)."""
    _check(weak, ceiling, student, *(m for m in (no_teacher, no_text, no_strong) if isinstance(m, np.ndarray)))
    seeds, items = weak.shape
    rs = Resampler(seeds, items, n_boot, rng_seed, groups)
    w, c = rs.accuracy(weak), rs.accuracy(ceiling)
    w0, c0 = weak.mean(), ceiling.mean()
    p, p0 = pgr(w, c, rs.accuracy(student)), float(pgr(w0, c0, student.mean()))

    def of(m: Ablated, missing: float | None) -> tuple:
        if isinstance(m, np.ndarray):
            return pgr(w, c, rs.accuracy(m)), float(pgr(w0, c0, m.mean()))
        value = missing if m is None else float(m)
        return (p, p0) if value is None else (np.full_like(p, value), value)

    (t, t0), (x, x0), (n, n0) = of(no_teacher, -np.inf), of(no_text, None), of(no_strong, -np.inf)
    point = split_pgr(p0, t0, x0, n0)
    draws = split_pgr(p, t, x, n)
    return Parts(*(_interval(float(a), b) for a, b in zip(point, draws, strict=True)))
