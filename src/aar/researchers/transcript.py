"""Transcripts: every message and tool call of an agent, one JSON object per line, appended and flushed as
it happens (a killed agent loses at most the line being written; readers skip a torn last line)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULT_CHARS = 4000


class Transcript:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.seq = sum(1 for _ in read(path)) if path.exists() else 0
        self._lock = threading.Lock()

    def write(self, kind: str, **fields: Any) -> None:
        with self._lock:
            self.seq += 1
            row = {"seq": self.seq, "time": datetime.now(UTC).isoformat(), "type": kind, **fields}
            with self.path.open("a") as f:
                f.write(json.dumps(row, default=str) + "\n")
                f.flush()


def read(path: Path) -> list[dict]:
    rows = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:  # a line torn by a kill: skip it
            continue
    return rows
