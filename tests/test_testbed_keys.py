"""The testbed as an instrument across installations: fresh keys draw fresh testbeds without touching this
installation, the feature cache reuses texts across draws, a shuffled teacher is an uninformative teacher, and
the smallest detectable effect is computed as stated."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from aar import paths
from aar.errors import AarError
from aar.fsio import load_arrays, save_arrays_atomic
from aar.stats.power import detectable_effect, seeds_for, standard_error, typical_detectable_effect


def test_detectable_effect_is_the_normal_approximation_of_the_paired_interval() -> None:
    se = standard_error(-0.196, 0.196)
    assert se == pytest.approx(0.1, rel=1e-3)
    # two-sided p < 0.01 with 80% power: (2.576 + 0.842) standard errors
    assert detectable_effect(0.1) == pytest.approx(0.3417, abs=1e-3)
    assert detectable_effect(0.1, alpha=0.05) == pytest.approx(0.2802, abs=1e-3)
    assert typical_detectable_effect([(-0.1, 0.1), (0.0, 0.392), (math.nan, 1.0)]) == pytest.approx(
        detectable_effect(standard_error(-0.148, 0.148)), abs=0.01)  # the median of 0.051 and 0.1
    assert math.isnan(typical_detectable_effect([(math.nan, math.nan)]))
    assert seeds_for(0.10, 0.20, 5) == 20 and seeds_for(0.10, 0.05, 5) == 5


@pytest.mark.slow
def test_a_fresh_key_draws_another_testbed_and_leaves_this_installation_alone(tmp_path: Path) -> None:
    from aar.tasks import load_task
    from aar.w2s.acceptance import check_fresh_keys, fresh_installation

    mine = load_task("code")
    key_file = paths.home() / "secrets" / "task.key"
    before = key_file.read_bytes()
    with fresh_installation(tmp_path / "scratch") as root:
        theirs = load_task("code")
        assert paths.home() == root.resolve() and (root / "secrets" / "task.key").read_bytes() != before
        assert (root / "features").resolve() == (Path(str(key_file)).parents[1] / "features").resolve()
    assert theirs.content_hash != mine.content_hash  # other splits and pairings of the same packaged source
    test_ids = {e.id for e in mine.splits["test"]}
    assert {e.id for e in theirs.splits["test"]} != test_ids
    assert key_file.read_bytes() == before and load_task("code").content_hash == mine.content_hash
    with pytest.raises(AarError, match="code-sample is imported"):
        check_fresh_keys(["code", "code-sample"], "glove-50d", "", 2, keys=1)


def test_the_feature_cache_encodes_only_texts_it_has_not_seen(tmp_path: Path) -> None:
    from aar.models.encoders import GloveEncoder
    from aar.models.features import encode_cached

    class Counting(GloveEncoder):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str] = []

        def encode(self, texts, progress=None):
            self.seen += texts
            return super().encode(texts, progress)

    encoder = Counting()
    with paths.home_at(tmp_path):
        first = encode_cached(encoder, ["the movie was fine", "a dull plot"])
        second = encode_cached(encoder, ["a dull plot", "sharp dialogue", "a dull plot"])
        again = encode_cached(encoder, ["sharp dialogue", "a dull plot"])
    assert encoder.seen == ["a dull plot", "the movie was fine", "sharp dialogue"]  # each text once
    assert np.array_equal(second[0], first[1]) and np.array_equal(second[0], second[2])
    assert np.array_equal(again, second[[1, 0]])
    assert len(list((tmp_path / "features" / encoder.name).glob("*.npz"))) == 2  # the third set is the second
    # a file written before files kept their texts' hashes gains them when read, and then serves other sets
    with paths.home_at(tmp_path / "old"):
        old = encode_cached(encoder, ["old text one", "old text two"])
        (path,) = (tmp_path / "old" / "features" / encoder.name).glob("*.npz")
        save_arrays_atomic(path, x=old)
        assert np.array_equal(encode_cached(encoder, ["old text two", "old text one"]), old[[1, 0]])
        assert "h" in load_arrays(path)
        encoder.seen.clear()
        encode_cached(encoder, ["old text one", "new text"])
    assert encoder.seen == ["new text"]


@pytest.mark.slow
def test_a_shuffled_teacher_is_the_same_labels_on_the_wrong_items() -> None:
    from aar.w2s import Testbed, TestbedConfig

    bed = Testbed(TestbedConfig(task="chat-sample"))
    real, shuffled = bed.context(0, {}), bed.context(0, {}, teacher="shuffled")
    assert np.array_equal(np.sort(real.weak_soft), np.sort(shuffled.weak_soft))
    assert not np.array_equal(real.weak_soft, shuffled.weak_soft)
    honest, blind = bed.run("vanilla", [0, 1]), bed.run("vanilla", [0, 1], teacher="shuffled")
    assert np.array_equal(honest.weak["test"], blind.weak["test"])  # same teacher and ceiling: same PGR scale
    assert blind.summary("test").pgr.mean < honest.summary("test").pgr.mean - 0.2
    with pytest.raises(Exception, match="teacher 'noisy'"):
        bed.context(0, {}, teacher="noisy")
