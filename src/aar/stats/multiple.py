"""Multiple-comparison corrections across a campaign's verified methods.

Holm (1979) controls the family-wise error rate and is uniformly more powerful than Bonferroni;
Benjamini and Hochberg (1995) control the false discovery rate. Both return adjusted p-values in the
input order (monotone, capped at 1), so "significant after correction" is ``adjusted < alpha``.
"""

from __future__ import annotations

import numpy as np


def holm(pvalues: list[float]) -> list[float]:
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p)
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted.tolist()


def benjamini_hochberg(pvalues: list[float]) -> list[float]:
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    stepped = np.minimum.accumulate(ranked[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted.tolist()
