"""PGR with a hierarchical bootstrap over seeds and test items, and paired tests between methods.

Each bootstrap draw resamples seeds (with replacement) and, independently, test items (with
replacement; whole source problems when group ids are given, i.e. a cluster bootstrap). The weak,
ceiling and student correctness matrices are all reweighted with the *same* draw, so their correlation
through shared seeds and items is kept (weak and ceiling resampled jointly with the student).
Resampling uses multinomial count weights, which is exact and vectorised:
acc = w_seeds^T C v_items / (S sum(v_items)). Percentile intervals; p-values from the paired bootstrap
distribution of the PGR difference (two-sided, with the +1 correction of Davison & Hinkley 1997).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from aar.errors import AarError
from aar.results.intervals import format_interval
from aar.stats.pgr import pgr


@dataclass(frozen=True)
class Interval:
    mean: float
    lo: float
    hi: float

    def fmt(self, digits: int = 3) -> str:
        """Through the one interval formatter (a NaN bound reads as no interval, a NaN mean as a dash)."""
        return format_interval(self, digits)

    def as_json(self) -> dict[str, float | None]:
        """JSON-ready, with NaN as null (PostgreSQL JSON columns and strict parsers reject NaN)."""
        return {"mean": finite(self.mean), "lo": finite(self.lo), "hi": finite(self.hi)}


def finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


@dataclass(frozen=True)
class PGRSummary:
    weak_acc: Interval
    ceiling_acc: Interval
    student_acc: Interval
    pgr: Interval
    seeds: int
    items: int

    def to_dict(self) -> dict:
        return asdict(self)


def _check(*matrices: np.ndarray) -> tuple[int, int]:
    shape = matrices[0].shape
    for m in matrices:
        if m.ndim != 2 or m.shape != shape:
            raise AarError(f"correctness matrices must share one (seeds, items) shape; got "
                           f"{[x.shape for x in matrices]}")
    if shape[0] < 1 or shape[1] < 1:
        raise AarError("need at least one seed and one test item")
    return shape


class Resampler:
    """Holds one set of bootstrap draws so several statistics are computed on identical resamples.

    With ``groups`` (one id per test item, e.g. the source problem), whole groups are resampled: items of
    one problem are correlated, and treating them as independent would make intervals too narrow.
    """

    def __init__(self, seeds: int, items: int, n_boot: int = 2000, rng_seed: int = 0,
                 groups: np.ndarray | None = None):
        rng = np.random.default_rng(rng_seed)
        self.seed_w = rng.multinomial(seeds, np.full(seeds, 1 / seeds), size=n_boot).astype(np.float64)
        if groups is None:
            self.item_w = rng.multinomial(items, np.full(items, 1 / items), size=n_boot).astype(np.float64)
        else:
            if len(groups) != items:
                raise AarError(f"groups has {len(groups)} entries for {items} test items")
            _, index = np.unique(np.asarray(groups), return_inverse=True)
            n_groups = int(index.max()) + 1
            group_w = rng.multinomial(n_groups, np.full(n_groups, 1 / n_groups), size=n_boot)
            self.item_w = group_w[:, index].astype(np.float64)
        self.norm = float(seeds) * self.item_w.sum(1)  # item weights no longer sum to N with groups

    def accuracy(self, correct: np.ndarray) -> np.ndarray:
        per_seed = correct.astype(np.float64) @ self.item_w.T  # (S, B)
        return np.einsum("bs,sb->b", self.seed_w, per_seed) / self.norm


def _interval(point: float, draws: np.ndarray, level: float = 0.95) -> Interval:
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return Interval(float(point), float("nan"), float("nan"))
    lo, hi = np.percentile(finite, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return Interval(float(point), float(lo), float(hi))


def pgr_summary(weak: np.ndarray, ceiling: np.ndarray, student: np.ndarray, n_boot: int = 2000,
                rng_seed: int = 0, groups: np.ndarray | None = None) -> PGRSummary:
    """``weak``, ``ceiling``, ``student``: 0/1 correctness matrices of shape (seeds, test items);
    ``groups``: optional cluster id per item (resampled as whole clusters)."""
    seeds, items = _check(weak, ceiling, student)
    rs = Resampler(seeds, items, n_boot, rng_seed, groups)
    draws = {name: rs.accuracy(m) for name, m in (("w", weak), ("c", ceiling), ("s", student))}
    point = {name: float(m.mean()) for name, m in (("w", weak), ("c", ceiling), ("s", student))}
    return PGRSummary(
        weak_acc=_interval(point["w"], draws["w"]),
        ceiling_acc=_interval(point["c"], draws["c"]),
        student_acc=_interval(point["s"], draws["s"]),
        pgr=_interval(float(pgr(point["w"], point["c"], point["s"])), pgr(draws["w"], draws["c"], draws["s"])),
        seeds=seeds,
        items=items,
    )


@dataclass(frozen=True)
class PairedTest:
    diff: Interval  # PGR(method) - PGR(baseline)
    p_value: float


def paired_test(weak: np.ndarray, ceiling: np.ndarray, method: np.ndarray, baseline: np.ndarray,
                n_boot: int = 2000, rng_seed: int = 0, groups: np.ndarray | None = None) -> PairedTest:
    """Two-sided paired bootstrap test of PGR(method) = PGR(baseline) on the same seeds and items."""
    seeds, items = _check(weak, ceiling, method, baseline)
    rs = Resampler(seeds, items, n_boot, rng_seed, groups)
    w, c = rs.accuracy(weak), rs.accuracy(ceiling)
    diff = pgr(w, c, rs.accuracy(method)) - pgr(w, c, rs.accuracy(baseline))
    point = float(pgr(weak.mean(), ceiling.mean(), method.mean()) - pgr(weak.mean(), ceiling.mean(),
                                                                           baseline.mean()))
    finite = diff[np.isfinite(diff)]
    if finite.size == 0 or np.all(method == baseline):
        return PairedTest(Interval(point, 0.0, 0.0) if np.all(method == baseline)
                          else _interval(point, diff), 1.0)
    below, above = np.sum(finite <= 0), np.sum(finite >= 0)
    p = min(1.0, 2 * (min(below, above) + 1) / (finite.size + 1))
    return PairedTest(_interval(point, diff), float(p))
