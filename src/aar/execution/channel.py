"""The channels between a trusted parent and its sandboxed method child, opened before the child starts.

Results and the error text go into files the parent created and unlinked at once (``O_TMPFILE``-style
anonymous files): the child receives them as descriptors, so there is no path it could replace with a link,
and the parent reads them through its own descriptors, bounded. Audit events go down a pipe drained by a
thread into a bounded buffer: a line written cannot be taken back. Nothing the parent reads after the child
ran is looked up by name.
"""

from __future__ import annotations

import io
import os
import secrets
import tempfile
import threading
import zipfile
from typing import BinaryIO

import numpy as np

from aar.execution.job import MAX_ERROR_CHARS, MethodFailed
from aar.sandbox.audit import AuditRecord, verify_stream

MAX_AUDIT_BYTES = 1024 * 1024
RESULT_SLACK_BYTES = 1024 * 1024  # npz headers beyond the float64 arrays themselves
NPY_HEADER_BYTES = 4096  # one array's .npy header


class Channels:
    def __init__(self) -> None:
        self.key = secrets.token_bytes(32)
        self._result = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self._error = tempfile.TemporaryFile()  # noqa: SIM115
        self._audit_r, self._audit_w = os.pipe()
        self._audit = bytearray()
        self._overflow = False
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    @property
    def fds(self) -> tuple[int, int, int]:
        """(result, error, audit): the descriptors the child inherits."""
        return self._result.fileno(), self._error.fileno(), self._audit_w

    def stdin(self) -> bytes:
        return self.key.hex().encode() + b"\n"

    def _drain(self) -> None:
        while chunk := os.read(self._audit_r, 65536):
            room = MAX_AUDIT_BYTES - len(self._audit)
            if len(chunk) > room:
                self._overflow = True
            self._audit += chunk[:max(room, 0)]
        os.close(self._audit_r)

    def finish(self) -> None:
        """After the child and everything it started are dead: close our write end and collect the audit."""
        if self._audit_w >= 0:
            os.close(self._audit_w)
            self._audit_w = -1
        self._reader.join(timeout=10)

    def audit(self, checkpoints: int | None) -> AuditRecord:
        return verify_stream(bytes(self._audit), self.key, self._overflow, checkpoints)

    def error_text(self) -> str:
        return _bounded(self._error, MAX_ERROR_CHARS * 4).decode(errors="replace")[-MAX_ERROR_CHARS:]

    def results(self, seeds: tuple[int, ...], sizes: dict[str, int]) -> dict[int, dict[str, np.ndarray]]:
        limit = sum(sizes.values()) * len(seeds) * 8 + RESULT_SLACK_BYTES
        data = _bounded(self._result, limit)
        if len(data) > limit:
            raise MethodFailed(f"method output is larger than {limit} bytes", kind="output")
        expected = {f"s{position}_{split}": (seed, position, split, n) for position, seed in enumerate(seeds)
                    for split, n in sizes.items()}
        outputs: dict[int, dict[str, np.ndarray]] = {seed: {} for seed in seeds}
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
                for name, (seed, position, split, n) in expected.items():
                    info = members.get(name)
                    if info is None:
                        raise MethodFailed(f"method produced no {split} predictions for seed #{position + 1}",
                                           kind="output")
                    # the declared size bounds what is inflated (a compressed member cannot expand past it)
                    if info.file_size > n * 8 + NPY_HEADER_BYTES:
                        raise MethodFailed(f"method returned oversized {split} predictions", kind="output")
                    with archive.open(info) as member:
                        probs = np.lib.format.read_array(member, allow_pickle=False)
                    if probs.shape != (n,) or probs.dtype.kind not in "fiu" or not np.all(np.isfinite(probs)):
                        raise MethodFailed(f"method returned malformed {split} predictions for seed "
                                           f"#{position + 1}", kind="output")
                    outputs[seed][split] = np.clip(probs.astype(np.float64), 0.0, 1.0)
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
            raise MethodFailed(f"method output is not readable ({type(exc).__name__})", kind="output") from None
        return outputs

    def close(self) -> None:
        self.finish()
        self._result.close()
        self._error.close()

    def __enter__(self) -> Channels:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bounded(f: BinaryIO, limit: int) -> bytes:
    """Up to ``limit + 1`` bytes of one of our anonymous files, from the start."""
    f.seek(0)
    return f.read(limit + 1)
