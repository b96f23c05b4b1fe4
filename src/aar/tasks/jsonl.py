"""Reader and writer for the reference release's JSONL layout.

Files ``train_label.jsonl``, ``train_unlabel.jsonl``, ``test.jsonl`` (and optionally ``dev.jsonl``), one
object per line with ``prompt/first/second`` or ``question/choice`` and ``label`` (0/1 or bool). An ``id``
field is kept when present, else a content hash makes one, so ids are stable across reloads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aar.errors import AarError
from aar.fsio import sha256_json, write_jsonl_atomic
from aar.tasks.schema import FIELDS, Example, Format

REFERENCE_FILES = ("train_label", "train_unlabel", "dev", "test", "holdout")  # dev, holdout optional
MAX_LINE_BYTES = 1024 * 1024  # one item; a longer line is refused before it is read whole
MAX_ID_CHARS = 64  # the HTTP API takes item ids of at most 64 characters (POST /v1/evaluations)
MAX_GROUP_CHARS = 200


def _open_regular(path: Path):
    """Open a split file for reading only if it is a regular file and not a link: a split that links to a host
    file (a key, another task's labels) would otherwise be imported, and its label-free copy published."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise AarError(f"{path}: no such file") from None
    except OSError as exc:
        if os.path.islink(path):
            raise AarError(f"{path}: is a symbolic link; copy the file itself into the folder") from None
        raise AarError(f"{path}: cannot open ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise AarError(f"{path}: not a regular file")
    return os.fdopen(fd, "rb")


def _lines(path: Path):
    """(line number, text) of each line, each read with a bound: memory stays proportional to one line."""
    with _open_regular(path) as fh:
        lineno = 0
        while True:
            raw = fh.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            lineno += 1
            if len(raw) > MAX_LINE_BYTES:
                raise AarError(f"{path}:{lineno}: line longer than {MAX_LINE_BYTES} bytes")
            try:
                yield lineno, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise AarError(f"{path}:{lineno}: not UTF-8 ({exc.reason})") from None


def detect_format(row: dict[str, Any]) -> Format | None:
    """``pair`` needs first/second (prompt optional); ``choice`` needs question/choice."""
    if "first" in row and "second" in row:
        return "pair"
    if "question" in row and "choice" in row:
        return "choice"
    return None


def _parse_label(value: Any, where: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and value in (0, 1):
        return value
    if isinstance(value, str) and value.strip().lower() in ("0", "1", "true", "false"):
        return int(value.strip().lower() in ("1", "true"))
    raise AarError(f"{where}: label must be 0/1 or true/false, got {repr(value)[:60]}")


def read_jsonl(path: Path, fmt: Format | None = None, require_label: bool = True) -> tuple[Format, list[Example]]:
    """Parse one file strictly: any bad line is an error naming the file and line."""
    path = Path(path)
    examples: list[Example] = []
    seen: set[str] = set()
    for lineno, line in _lines(path):  # one line at a time, bounded
        where = f"{path}:{lineno}"
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AarError(f"{where}: malformed JSON ({exc.msg})") from None
        except RecursionError:
            raise AarError(f"{where}: JSON nested too deeply (an item is one flat object)") from None
        if not isinstance(row, dict):
            raise AarError(f"{where}: expected a JSON object")
        row_fmt = detect_format(row)
        if row_fmt is None:
            raise AarError(f"{where}: missing fields; need prompt/first/second or question/choice")
        if fmt is None:
            fmt = row_fmt
        if row_fmt != fmt:
            raise AarError(f"{where}: format {row_fmt} differs from the file's format {fmt}")
        inputs = {}
        for name in FIELDS[fmt]:
            value = row.get(name, "")
            if not isinstance(value, str):
                raise AarError(f"{where}: field {name!r} must be a string")
            inputs[name] = value
        label = None
        if "label" in row and row["label"] is not None:
            label = _parse_label(row["label"], where)
        elif require_label:
            raise AarError(f"{where}: missing field 'label'")
        ex_id = str(row.get("id") or sha256_json(inputs)[:16])
        if len(ex_id) > MAX_ID_CHARS:
            raise AarError(f"{where}: id of {len(ex_id)} characters; at most {MAX_ID_CHARS} (the API's limit)")
        if ex_id in seen:
            raise AarError(f"{where}: duplicate id {ex_id!r}")
        seen.add(ex_id)
        group = str(row.get("group") or ex_id)
        if len(group) > MAX_GROUP_CHARS:
            raise AarError(f"{where}: group of {len(group)} characters; at most {MAX_GROUP_CHARS}")
        examples.append(Example(id=ex_id, group=group, inputs=inputs, label=label))
    if not examples:
        raise AarError(f"{path}: no examples")
    assert fmt is not None
    return fmt, examples


def example_row(ex: Example, with_label: bool = True) -> dict[str, Any]:
    row: dict[str, Any] = {"id": ex.id, "group": ex.group, **ex.inputs}
    if with_label and ex.label is not None:
        row["label"] = ex.label
    return row


def write_jsonl(path: Path, examples: list[Example], with_label: bool = True) -> None:
    write_jsonl_atomic(path, (example_row(e, with_label) for e in examples))


def read_reference_dir(directory: Path) -> tuple[Format, dict[str, list[Example]]]:
    """Load a reference release directory; a missing ``dev.jsonl`` or ``holdout.jsonl`` is carved from ``test``
    by group hash."""
    directory = Path(directory)
    if not directory.is_dir():
        raise AarError(f"{directory}: not a directory")
    fmt: Format | None = None
    splits: dict[str, list[Example]] = {}
    for split in REFERENCE_FILES:
        path = directory / f"{split}.jsonl"
        if not os.path.lexists(path):  # a dangling link is refused by the reader, not taken as absent
            if split in ("dev", "holdout"):
                continue
            raise AarError(f"{path}: missing (a reference dataset needs train_label, train_unlabel, test)")
        fmt, splits[split] = read_jsonl(path, fmt)
    if "dev" not in splits:
        from aar.tasks.splits import carve_dev

        splits["test"], splits["dev"] = carve_dev(splits["test"])
    if "holdout" not in splits:
        from aar.tasks.splits import carve_holdout

        splits["test"], splits["holdout"] = carve_holdout(splits["test"])
    assert fmt is not None
    return fmt, splits
