import numpy as np
import pytest

from aar.errors import AarError
from aar.stats import paired_test, pgr_summary


def _correct(rng: np.random.Generator, acc: float, seeds: int = 5, items: int = 800) -> np.ndarray:
    return (rng.random((seeds, items)) < acc).astype(np.int8)


def test_point_estimate_is_the_pgr_formula() -> None:
    rng = np.random.default_rng(0)
    w, c, s = _correct(rng, 0.6), _correct(rng, 0.8), _correct(rng, 0.7)
    summary = pgr_summary(w, c, s)
    expected = (s.mean() - w.mean()) / (c.mean() - w.mean())
    assert summary.pgr.mean == pytest.approx(expected)
    assert summary.pgr.lo < expected < summary.pgr.hi
    assert summary.weak_acc.lo < w.mean() < summary.weak_acc.hi


def test_student_equal_to_ceiling_has_pgr_one_with_zero_width() -> None:
    rng = np.random.default_rng(1)
    w, c = _correct(rng, 0.6), _correct(rng, 0.8)
    summary = pgr_summary(w, c, c.copy())
    assert summary.pgr.mean == 1.0 and summary.pgr.lo == pytest.approx(1.0) and summary.pgr.hi == pytest.approx(1.0)


def test_ci_coverage_is_near_nominal() -> None:
    """Simulate many experiments with a known true PGR; the 95% CI should cover it most of the time."""
    covered = 0
    trials = 60
    for t in range(trials):
        rng = np.random.default_rng(100 + t)
        w, c, s = _correct(rng, 0.6, 3, 600), _correct(rng, 0.8, 3, 600), _correct(rng, 0.7, 3, 600)
        summary = pgr_summary(w, c, s, n_boot=500, rng_seed=t)
        covered += summary.pgr.lo <= 0.5 <= summary.pgr.hi
    assert covered / trials >= 0.85


def test_paired_test_separates_better_method_and_not_identical_ones() -> None:
    rng = np.random.default_rng(2)
    w, c = _correct(rng, 0.6), _correct(rng, 0.8)
    base = _correct(rng, 0.65)
    better = np.maximum(base, _correct(rng, 0.3))  # strictly more correct on the same items
    assert paired_test(w, c, better, base).p_value < 0.01
    same = paired_test(w, c, base, base.copy())
    assert same.p_value == 1.0 and same.diff.mean == 0.0
    noise = base.copy()
    flip = rng.choice(base.size, 10, replace=False)
    noise.flat[flip] = 1 - noise.flat[flip]
    assert paired_test(w, c, noise, base).p_value > 0.05


def test_shape_mismatch_is_a_clear_error() -> None:
    with pytest.raises(AarError, match="shape"):
        pgr_summary(np.zeros((2, 5)), np.zeros((2, 5)), np.zeros((3, 5)))


def test_cluster_bootstrap_widens_intervals_for_correlated_items() -> None:
    """Items of one problem share their correctness: resampling whole problems must see that."""
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(40), 10)  # 40 problems x 10 items, all items of a problem alike

    def clustered(acc: float) -> np.ndarray:
        return np.repeat(rng.random((3, 40)) < acc, 10, axis=1).astype(np.int8)

    w, c, s = clustered(0.5), clustered(0.8), clustered(0.65)
    flat = pgr_summary(w, c, s)
    grouped = pgr_summary(w, c, s, groups=groups)
    assert grouped.pgr.mean == flat.pgr.mean
    assert (grouped.weak_acc.hi - grouped.weak_acc.lo) > 1.5 * (flat.weak_acc.hi - flat.weak_acc.lo)
    with pytest.raises(AarError, match="groups has"):
        pgr_summary(w, c, s, groups=groups[:-1])


def test_groups_of_one_item_match_the_item_bootstrap() -> None:
    rng = np.random.default_rng(4)
    w, c, s = _correct(rng, 0.6), _correct(rng, 0.8), _correct(rng, 0.7)
    a = pgr_summary(w, c, s, rng_seed=7)
    b = pgr_summary(w, c, s, rng_seed=7, groups=np.arange(w.shape[1]))
    assert abs(a.pgr.lo - b.pgr.lo) < 0.05 and abs(a.pgr.hi - b.pgr.hi) < 0.05


def test_holm_and_bh_match_their_definitions() -> None:
    from aar.stats.multiple import benjamini_hochberg, holm

    p = [0.01, 0.04, 0.03, 0.005]
    # Holm: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04 -> running max
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # BH: sorted times 4/1, 4/2, 4/3, 4/4 -> 0.02, 0.02, 0.04, 0.04 -> running min from the top
    assert benjamini_hochberg(p) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert holm([0.9, 0.8]) == [1.0, 1.0] and holm([]) == [] and benjamini_hochberg([]) == []
