"""The smallest PGR difference a paired comparison can detect, from the intervals it already produced.

A paired bootstrap (:func:`aar.stats.bootstrap.paired_test`) gives the difference of two methods' PGR on the
same seeds and test items with a 95% interval. Read as a normal approximation, the interval's half-width is
1.96 standard errors; a true difference ``d`` is then detected by a two-sided test at level ``alpha`` with
probability ``power`` when ``d >= (z(1 - alpha/2) + z(power)) * se`` (the usual minimum detectable effect,
e.g. Bloom 1995, "Minimum detectable effects", Evaluation Review 19(5)). With alpha 0.01 and power 0.8 the
factor is 3.42.

How it shrinks with seeds is stated as an estimate: seed-to-seed variance falls as 1/seeds, the test items'
does not (every seed scores the same items), so ``seeds_for`` is a lower bound on the seeds needed.
"""

from __future__ import annotations

import math
from statistics import NormalDist, median

Z95 = NormalDist().inv_cdf(0.975)


def standard_error(lo: float, hi: float) -> float:
    """The standard error a 95% interval implies (NaN when it has no bounds)."""
    return (hi - lo) / (2 * Z95) if math.isfinite(lo) and math.isfinite(hi) else math.nan


def detectable_effect(se: float, alpha: float = 0.01, power: float = 0.8) -> float:
    """The smallest true difference found at two-sided level ``alpha`` with probability ``power``."""
    return (NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)) * se


def interval_detectable_effect(lo: float | None, hi: float | None, alpha: float = 0.01,
                               power: float = 0.8) -> float:
    """The minimum detectable effect of one paired comparison, from its difference's 95% interval (NaN when the
    interval has no bounds)."""
    if lo is None or hi is None:
        return math.nan
    return detectable_effect(standard_error(lo, hi), alpha, power)


def typical_detectable_effect(intervals: list[tuple[float, float]], alpha: float = 0.01, power: float = 0.8) -> float:
    """The minimum detectable effect of a typical comparison: from the median standard error of ``intervals``
    (the (lo, hi) of several paired differences on one task and seed set); NaN when none has bounds."""
    errors = [e for e in (standard_error(lo, hi) for lo, hi in intervals) if math.isfinite(e)]
    return detectable_effect(median(errors), alpha, power) if errors else math.nan


def seeds_for(effect: float, detectable: float, seeds: int) -> int:
    """Seeds at which ``effect`` would become detectable if all variance were seed variance (a lower bound:
    the test items' share does not shrink)."""
    if not (math.isfinite(detectable) and detectable > 0 and effect > 0):
        return seeds
    return max(seeds, math.ceil(seeds * (detectable / effect) ** 2))
