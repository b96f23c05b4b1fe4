"""The testbed end to end on a small imported task with the real packaged encoders."""

from pathlib import Path

import numpy as np
import pytest

from aar.errors import AarError
from aar.tasks import import_reference
from aar.w2s import Testbed, TestbedConfig
from aar.w2s.cache import ArtifactCache


@pytest.fixture()
def bed(small_reference: Path, tmp_path: Path) -> Testbed:
    import_reference("pipeline-sentiment", small_reference)
    return Testbed(TestbedConfig(task="pipeline-sentiment"), cache=ArtifactCache(tmp_path / "artifacts"))


def test_run_produces_per_seed_predictions_and_a_summary(bed: Testbed) -> None:
    result = bed.run("vanilla", [0, 1, 2])
    n_test = len(bed.task.splits["test"])
    assert result.student["test"].shape == (3, n_test)
    assert np.all((result.student["test"] >= 0) & (result.student["test"] <= 1))
    summary = result.summary()
    assert summary.seeds == 3 and summary.items == n_test
    assert summary.ceiling_acc.mean > 0.8  # MiniLM separates these reviews easily


def test_artifacts_are_cached_and_reused(bed: Testbed) -> None:
    first = bed.run("soft", [0])
    misses = bed.cache.misses
    again = bed.run("soft", [0])
    assert bed.cache.misses == misses and bed.cache.hits >= 3
    np.testing.assert_array_equal(first.student["test"], again.student["test"])
    changed = bed.run("soft", [0], {"temperature": 0.5})  # new params: new key, new artifact
    assert bed.cache.misses == misses + 1
    assert changed.params == {"temperature": 0.5}


def test_methods_never_see_labels(bed: Testbed) -> None:
    ctx = bed.context(0, {})
    assert all(e.label is None for e in ctx.unlabeled)
    assert len(ctx.weak_soft) == len(ctx.unlabeled) == len(ctx.strong_x)


def test_bad_method_output_is_rejected_and_not_cached(bed: Testbed, tmp_path: Path) -> None:
    path = tmp_path / "bad_method.py"
    path.write_text(
        "import numpy as np\nfrom aar.methods import Method\n\n"
        "class Short:\n    def predict_proba(self, x):\n        return np.zeros(len(x) - 1)\n\n"
        "class Bad(Method):\n    name = 'bad'\n    def train(self, ctx):\n        return Short()\n"
    )
    with pytest.raises(AarError, match=r"expected .* finite probabilities"):
        bed.run(f"{path}:Bad", [0])
    assert not any((bed.cache.root).rglob("*.tmp"))


def test_paired_test_requires_same_seeds(bed: Testbed) -> None:
    with pytest.raises(AarError, match="same seeds"):
        bed.run("soft", [0]).versus(bed.run("vanilla", [1]))


def test_a_file_method_is_imported_once_per_run(bed: Testbed, tmp_path: Path) -> None:
    counter = tmp_path / "imports.txt"
    path = tmp_path / "counted.py"
    path.write_text(
        f"open({str(counter)!r}, 'a').write('x')\n"
        "import numpy as np\nfrom aar.methods import Method\n\n"
        "class Counted(Method):\n    name = 'counted'\n"
        "    def train(self, ctx):\n        return ctx.fit((ctx.weak_soft > 0.5).astype(np.float32))\n"
    )
    bed.run(f"{path}:Counted", [0, 1, 2])
    assert counter.read_text() == "x"
