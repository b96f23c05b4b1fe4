import json
from pathlib import Path

import pytest
from tests.helpers.data import sentiment_rows, write_reference

from aar.errors import AarError
from aar.tasks import import_reference, load_task
from aar.tasks.jsonl import read_jsonl, read_reference_dir, write_jsonl


def test_reference_roundtrip_keeps_ids_fields_and_labels(tmp_path: Path, small_reference: Path) -> None:
    fmt, splits = read_reference_dir(small_reference)
    assert fmt == "pair"
    assert set(splits) == {"train_label", "train_unlabel", "dev", "test", "holdout"}
    # dev and holdout carved from test by group, nothing lost
    assert len(splits["dev"]) + len(splits["test"]) + len(splits["holdout"]) == 60
    assert splits["holdout"] and not {e.group for e in splits["holdout"]} & {e.group for e in splits["test"]}
    write_jsonl(tmp_path / "out.jsonl", splits["train_label"])
    _, again = read_jsonl(tmp_path / "out.jsonl")
    assert again == splits["train_label"]


def test_choice_format_and_bool_labels(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"question": "2+2?", "choice": "4", "label": True}) + "\n"
                    + json.dumps({"question": "2+2?", "choice": "5", "label": False}) + "\n")
    fmt, rows = read_jsonl(path)
    assert fmt == "choice" and [r.label for r in rows] == [1, 0]
    assert rows[0].id != rows[1].id and len(rows[0].id) == 16


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"first": "a", "second": "b", "label": 1}\n{not json}\n', ":2: malformed JSON"),
        ('{"first": "a", "label": 1}\n', ":1: missing fields"),
        ('{"first": "a", "second": "b"}\n', ":1: missing field 'label'"),
        ('{"first": "a", "second": "b", "label": 7}\n', ":1: label must be 0/1"),
        ('{"first": 3, "second": "b", "label": 1}\n', ":1: field 'first' must be a string"),
        ('{"id": "x", "first": "a", "second": "b", "label": 1}\n{"id": "x", "first": "c", "second": "d", '
         '"label": 0}\n', ":2: duplicate id"),
        ('[1, 2]\n', ":1: expected a JSON object"),
        ('{"first": "a", "second": "b", "label": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n",
         ":1: JSON nested too deeply"),
        ('{"id": "' + "i" * 103 + '", "first": "a", "second": "b", "label": 1}\n', ":1: id of 103 characters"),
        ('{"first": "a", "second": "b", "label": 1}\n{"first": "' + "a" * (2 * 1024 * 1024) + '"}\n',
         ":2: line longer than"),
        (b'{"first": "\xff", "second": "b", "label": 1}\n'.decode("latin-1"), ":1: not UTF-8"),
    ],
    ids=["json", "fields", "label", "label-value", "type", "duplicate", "object", "nesting", "id-length",
         "line-length", "encoding"],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content.encode("latin-1") if "\xff" in content else content.encode())
    with pytest.raises(AarError) as info:
        read_jsonl(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_one_class_dataset_is_rejected_and_nothing_is_stored(tmp_path: Path) -> None:
    rows = [dict(r, label=1) for r in sentiment_rows(20)]
    ref = write_reference(tmp_path / "one", {"train_label": rows, "train_unlabel": sentiment_rows(20, 50),
                                             "test": sentiment_rows(20, 90)})
    with pytest.raises(AarError, match="only one class"):
        import_reference("oneclass", ref)
    with pytest.raises(AarError, match="unknown task"):
        load_task("oneclass")


def test_imported_task_loads_and_detects_tampering(small_reference: Path) -> None:
    task = import_reference("imported-sentiment", small_reference)
    assert load_task("imported-sentiment").content_hash == task.content_hash
    stored = Path(__import__("aar.paths", fromlist=["x"]).data_dir()) / "imported-sentiment" / "test.jsonl"
    stored.write_text(stored.read_text().replace('"label": 1', '"label": 0', 1))
    with pytest.raises(AarError, match="content hash mismatch"):
        load_task("imported-sentiment")


def test_public_copies_have_no_labels(small_reference: Path) -> None:
    import_reference("public-check", small_reference)
    from aar import paths

    public = paths.data_dir() / "public-check" / "public"
    # test and holdout inputs are never shown, not even without labels: methods meet them in verification
    assert sorted(p.stem for p in public.glob("*.jsonl")) == ["dev", "train_label", "train_unlabel"]
    for path in public.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            assert "label" not in json.loads(line)
    assert (paths.data_dir() / "public-check" / "holdout.jsonl").exists()


def test_invalid_task_names_are_rejected(small_reference: Path) -> None:
    for bad in ("../evil", "Upper", "", "chat"):
        with pytest.raises(AarError):
            import_reference(bad, small_reference)


def test_split_files_that_are_links_or_not_regular_are_refused(tmp_path: Path, small_reference: Path) -> None:
    """A split that links to a host file would be imported and its label-free copy published under public/."""
    import os
    import shutil

    host = tmp_path / "host-secret.jsonl"
    host.write_text('{"first": "HOST SECRET", "second": "b", "label": 1}\n')
    linked = tmp_path / "linked"
    shutil.copytree(small_reference, linked)
    (linked / "dev.jsonl").unlink(missing_ok=True)
    os.symlink(host, linked / "dev.jsonl")
    with pytest.raises(AarError, match=r"dev\.jsonl: is a symbolic link"):
        import_reference("linked-split", linked)
    dangling = tmp_path / "dangling"
    shutil.copytree(small_reference, dangling)
    os.symlink(tmp_path / "nowhere.jsonl", dangling / "holdout.jsonl")
    with pytest.raises(AarError, match=r"holdout\.jsonl: is a symbolic link"):
        import_reference("dangling-split", dangling)
    fifo = tmp_path / "fifo"
    shutil.copytree(small_reference, fifo)
    os.mkfifo(fifo / "dev.jsonl")
    with pytest.raises(AarError, match=r"dev\.jsonl: not a regular file"):
        import_reference("fifo-split", fifo)
    with pytest.raises(AarError, match="unknown task"):
        load_task("linked-split")


def test_import_memory_stays_near_one_line(tmp_path: Path) -> None:
    """A 300 MB line is refused after reading at most one bounded line (the old reader peaked at 1.2 GB)."""
    import subprocess
    import sys

    big = tmp_path / "big.jsonl"
    with big.open("wb") as f:
        f.write(b'{"first": "')
        chunk = b"a" * (1024 * 1024)
        for _ in range(300):
            f.write(chunk)
        f.write(b'", "second": "b", "label": 1}\n')
    # the peak of this process's own address space (VmHWM; ru_maxrss would count the forking parent's pages)
    code = ("from aar.tasks.jsonl import read_jsonl\nfrom aar.errors import AarError\n"
            f"try:\n    read_jsonl({str(big)!r})\nexcept AarError as e:\n    print(e)\n"
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    message, peak_kib = out.strip().splitlines()
    assert ":1: line longer than" in message
    assert int(peak_kib) < 400 * 1024, f"peak {int(peak_kib) // 1024} MiB"
