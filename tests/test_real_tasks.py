"""The built-in tasks from vendored and packaged sources: sizes, keyed splits, real labels, private test inputs."""

from pathlib import Path

import pytest

from aar.tasks import DEFAULT_TASKS, SPLITS, build_task
from aar.tasks.registry import manifest


@pytest.mark.parametrize("name", ["chat", "math", "code", "gsm8k", "hh-harmless"])
def test_builtin_task_builds_with_disjoint_groups_and_both_classes(name: str) -> None:
    task = build_task(name)
    owners: dict[str, str] = {}
    for split in SPLITS:
        rows = task.splits[split]
        assert len(rows) >= (100 if name in DEFAULT_TASKS else 50)
        assert {e.label for e in rows} == {0, 1}
        for e in rows:
            assert owners.setdefault(e.group, split) == split
    info = manifest(name)
    assert info["content_hash"] == task.content_hash
    assert 0.35 < info["class_prior"]["test"] < 0.65  # balanced or recorded: here near balanced


def test_rebuild_is_deterministic() -> None:
    first = build_task("chat")
    assert build_task("chat", force=True).content_hash == first.content_hash


def test_built_tasks_depend_on_the_installation_secret(tmp_path, monkeypatch) -> None:
    """Another installation (another key) pairs, orders and splits the same sources differently: nothing about
    an item's label or split follows from our source and the public data alone."""
    here = build_task("chat")
    monkeypatch.setenv("AAR_HOME", str(tmp_path))
    there = build_task("chat")
    assert here.content_hash != there.content_hash
    ids_here = {e.id for e in here.splits["test"]}
    assert len(ids_here & {e.id for e in there.splits["test"]}) < 0.05 * len(ids_here)


def test_code_items_use_each_description_and_program_once() -> None:
    task = build_task("code")
    rows = [e for s in SPLITS for e in task.splits[s]]
    assert len({e.inputs["question"] for e in rows}) == len(rows)
    assert len({e.inputs["choice"] for e in rows}) == len(rows)
    descriptions = {e.inputs["question"] for e in rows}
    from aar.tasks.builders.code import FILE, SHA256
    from aar.tasks.builders.common import vendored_jsonl

    own: dict[str, str] = {}  # program -> its description, de-duplicated as the builder does
    for r in vendored_jsonl(FILE, SHA256):
        d, c = r["task_description"].strip(), r["code_sample"].strip()
        if d not in own.values() and c not in own:
            own[c] = d
    for e in rows:  # a negative's program belongs to no description in the task; a positive's to its own
        owner = own[e.inputs["choice"]]
        assert (owner == e.inputs["question"]) == bool(e.label)
        assert e.label or owner not in descriptions


def test_test_and_holdout_inputs_are_not_public() -> None:
    import json

    from aar.tasks.registry import task_dir

    task = build_task("math")
    public = task_dir("math") / "public"
    assert sorted(p.name for p in public.iterdir()) == ["dev.jsonl", "train_label.jsonl", "train_unlabel.jsonl"]
    shown = {json.loads(line)["id"] for p in public.iterdir() for line in p.read_text().splitlines()}
    assert shown and not shown & {e.id for s in ("test", "holdout") for e in task.splits[s]}


def test_vendored_data_is_checked_against_its_hash(tmp_path, monkeypatch) -> None:
    import gzip

    from aar.errors import AarError
    from aar.tasks.builders import common

    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f.jsonl.gz").write_bytes(gzip.compress(b'{"a": 1}\n'))
    monkeypatch.setattr(common, "VENDORED", tmp_path)
    with pytest.raises(AarError, match="SHA-256"):
        list(common.vendored_jsonl("x/f.jsonl.gz", "0" * 64))


def test_a_task_from_an_older_builder_is_rebuilt_on_load() -> None:
    """A stored built-in task whose manifest names an older builder revision (or none) is rebuilt, so an
    upgraded installation never keeps splits the builder no longer makes; a current one is loaded as is."""
    import json

    from aar.tasks import load_task
    from aar.tasks.registry import revision, task_dir

    current = build_task("chat")
    path = task_dir("chat") / "manifest.json"
    info = json.loads(path.read_text())
    assert info["revision"] == revision("chat") == 2
    stamp = path.stat().st_mtime_ns
    assert load_task("chat").content_hash == current.content_hash
    assert path.stat().st_mtime_ns == stamp  # current: not rebuilt
    info.pop("revision")  # a build from before builder revisions existed
    path.write_text(json.dumps(info))
    assert load_task("chat").content_hash == current.content_hash  # rebuilt by the current builder
    assert json.loads(path.read_text())["revision"] == 2


def test_an_imported_task_with_an_unreadable_manifest_is_a_clear_error(small_reference: Path) -> None:
    """An interrupted write or a hand edit leaves a manifest that is not JSON: one clear error naming the fix,
    not a decoder traceback."""
    from aar.errors import AarError
    from aar.tasks import import_reference, load_task
    from aar.tasks.registry import task_dir

    import_reference("mangled", small_reference)
    assert load_task("mangled").name == "mangled"
    (task_dir("mangled") / "manifest.json").write_text('{"layout": ')
    with pytest.raises(AarError, match=r"unreadable manifest.*aar data import mangled"):
        load_task("mangled")
