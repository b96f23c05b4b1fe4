"""Small reference datasets in the JSONL layout, for fast pipeline and import tests."""

from __future__ import annotations

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
