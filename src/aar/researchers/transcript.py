"""Transcripts: every message and tool call of an agent, one JSON object per line, appended and flushed as
it happens (a killed agent loses at most the line being written; readers skip a torn last line).

The file is the record. With a mirror (the ledger's transcript endpoint) each line is also sent to the
server for the dashboard; a line the server did not acknowledge stays pending and goes with the next
one, and a restarted agent first sends what the server lacks (the server keeps a line once per ``seq``)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULT_CHARS = 4000
MIRROR_BATCH = 200
log = logging.getLogger("aar.transcript")

# Sends rows to the server and answers the highest seq it now holds (rows at or below it are acknowledged).
Mirror = Callable[[list[dict]], int]


class Transcript:
    def __init__(self, path: Path, mirror: Mirror | None = None, mirrored_seq: int = 0):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        existing = read(path) if path.exists() else []
        if path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            with path.open("a") as f:  # end a line torn by a kill, so the next line starts clean
                f.write("\n")
        self.seq = max((row.get("seq", 0) for row in existing), default=0)
        self._lock = threading.Lock()
        self.mirror = mirror
        self.pending = [row for row in existing if row.get("seq", 0) > mirrored_seq] if mirror else []

    def write(self, kind: str, **fields: Any) -> None:
        with self._lock:
            self.seq += 1
            row = json.loads(json.dumps({"seq": self.seq, "time": datetime.now(UTC).isoformat(), "type": kind,
                                         **fields}, default=str))
            with self.path.open("a") as f:
                f.write(json.dumps(row) + "\n")
                f.flush()
            if self.mirror is not None:
                self.pending.append(row)
                self._send_pending()

    def _send_pending(self) -> None:
        """Best effort: the dashboard is a view, so a failed send never stops the agent; it is retried."""
        while self.pending:
            batch = self.pending[:MIRROR_BATCH]
            try:
                acked = self.mirror(batch)  # type: ignore[misc]
            except Exception as exc:
                log.warning("transcript mirror failed (%s); %d lines pending", exc, len(self.pending))
                return
            self.pending = [row for row in self.pending if row["seq"] > acked]
            if len(self.pending) and self.pending[0]["seq"] <= batch[-1]["seq"]:
                return  # the server did not take this batch: try again with the next line


def read(path: Path) -> list[dict]:
    rows = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:  # a line torn by a kill: skip it
            continue
    return rows
