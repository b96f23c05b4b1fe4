from aar.tasks.schema import Example
from aar.tasks.splits import assign_splits, content_hash


def _examples(n: int, per_group: int = 3) -> list[Example]:
    return [Example(id=f"e{i}", group=f"g{i // per_group}", inputs={"question": str(i), "choice": "x"},
                    label=i % 2) for i in range(n)]


def _where(splits: dict[str, list[Example]]) -> dict[str, str]:
    return {e.id: s for s, rows in splits.items() for e in rows}


def test_split_is_a_function_of_the_group_only() -> None:
    base = _examples(600)
    before = _where(assign_splits(base))
    shuffled = list(reversed(base)) + _examples(900)[600:]  # reorder and add new items
    after = _where(assign_splits(shuffled))
    assert all(after[k] == v for k, v in before.items())


def test_groups_never_straddle_splits_and_fractions_hold() -> None:
    splits = assign_splits(_examples(3000))
    owner: dict[str, str] = {}
    for split, rows in splits.items():
        for e in rows:
            assert owner.setdefault(e.group, split) == split
    sizes = {s: len(v) / 3000 for s, v in splits.items()}
    assert abs(sizes["train_unlabel"] - 0.35) < 0.05 and abs(sizes["test"] - 0.25) < 0.05
    assert abs(sizes["holdout"] - 0.15) < 0.05


def test_content_hash_changes_with_any_label() -> None:
    splits = assign_splits(_examples(60))
    h = content_hash(splits)
    first = splits["test"][0]
    splits["test"][0] = Example(first.id, first.group, first.inputs, 1 - (first.label or 0))
    assert content_hash(splits) != h
