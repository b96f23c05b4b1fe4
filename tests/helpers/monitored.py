"""Run a script that installs the audit hook itself (``argv``: the audit descriptor and the key in hex), and
read back its audit stream: the harness of the audit-witness tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from aar.sandbox.audit import AuditRecord, verify_stream


def run_monitored(source: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess, AuditRecord]:
    """The script's run and its verified audit record (one checkpoint expected)."""
    script = tmp_path / "monitored.py"
    script.write_text(source)
    read, write = os.pipe()
    key = os.urandom(32)
    run = subprocess.run([sys.executable, str(script), str(write), key.hex()], capture_output=True, text=True,
                         timeout=120, pass_fds=(write,))
    os.close(write)
    with os.fdopen(read, "rb") as f:
        stream = f.read()
    assert run.returncode == 0, run.stderr
    audit = verify_stream(stream, key, expected_checkpoints=1)
    assert verify_stream(stream, os.urandom(32)).problem  # another key: nothing verifies
    return run, audit
