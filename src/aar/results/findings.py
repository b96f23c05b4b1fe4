"""The identity of an integrity finding, shared by the scan (:mod:`aar.integrity`) and the server routes that
record a finding as it happens (the forum's refusals): both upsert on it, so the two meet on one row."""

from __future__ import annotations

from aar.fsio import sha256_json


def finding_fingerprint(detector: str, agent: str, submission_id: int | None, task: str | None) -> str:
    """A finding's key within its campaign: detector, agent, submission and task (re-scans stay idempotent)."""
    return sha256_json({"detector": detector, "agent": agent, "submission": submission_id, "task": task})
