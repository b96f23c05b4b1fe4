"""Small reference datasets in the JSONL layout, for fast pipeline and import tests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def write_reference(directory: Path, rows_by_split: dict[str, list[dict]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for split, rows in rows_by_split.items():
        (directory / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return directory


def sentiment_rows(n: int, offset: int = 0) -> list[dict]:
    """Small real-language preference pairs for fast pipeline tests (labels balanced by position)."""
    good = ["a wonderful, moving film", "brilliant acting and a great story", "funny, warm and delightful",
            "an excellent, beautiful movie", "superb direction, loved it", "charming and smart"]
    bad = ["a boring, dreadful mess", "terrible acting and a dull plot", "awful, tedious and painful",
           "a stupid, ugly failure", "bad writing, hated it", "lifeless and dumb"]
    rows = []
    for i in range(offset, offset + n):
        g, b = f"{good[i % len(good)]} number {i}", f"{bad[(i * 5) % len(bad)]} number {i}"
        first_good = i % 2 == 0
        rows.append({"id": f"ex{i}", "prompt": "Which review is positive?", "first": g if first_good else b,
                     "second": b if first_good else g, "label": int(first_good)})
    return rows


SAMPLE_SHARE = 0.3


def import_sample(source_task: str) -> str:
    """Import ``<task>-sample``: every split of a built-in task thinned to 30%, chosen by a hash of the item
    id (stored splits can be ordered by label: code lists its positives first), as a task of its own.

    Tests of mechanics run on these samples: their features encode in under a third of the time, and so does
    every fit on them. The full tasks' MiniLM encodings (chat about 1, math about 2, code about 3 minutes here)
    and the fits on them were most of the suite's time. The built-in tasks stay under test where their
    contents matter (``test_real_tasks``, ``test_leaks``, the server and integrity tests on chat). The sample
    keeps its source's character: ``aar testbed check`` on code gives ceiling 0.942 and weak 0.646, on
    code-sample 0.954 and 0.566 (2 seeds each). Shared by xdist workers: the first imports it under a lock."""
    from aar import paths
    from aar.fsio import exclusive
    from aar.tasks import import_reference, load_task
    from aar.tasks.jsonl import write_jsonl
    from aar.tasks.registry import task_dir

    name = f"{source_task}-sample"
    with exclusive(paths.data_dir() / f"{name}.lock"):
        if (task_dir(name) / "manifest.json").exists():
            return name
        source = load_task(source_task)
        folder = paths.home() / "reference" / name
        folder.mkdir(parents=True, exist_ok=True)
        for split, examples in source.splits.items():
            by_hash = sorted(examples, key=lambda e: hashlib.sha256(e.id.encode()).hexdigest())
            write_jsonl(folder / f"{split}.jsonl", by_hash[: max(8, round(SAMPLE_SHARE * len(examples)))])
        import_reference(name, folder)
    return name
