"""A submission's life: its statuses and the only moves between them.

    queued -> running -> verified | failed | quarantined
    running -> queued                      (lease expired: the worker died; re-queued)
    running -> failed                      (lease expired too often)
    verified <-> quarantined               (integrity scan or admin; cleared by review)
    failed -> queued                       (admin re-queue)

The server's database stores the value; every writer goes through :func:`transition` (ORM objects through
``Submission.move_to``), so an illegal move is a bug that raises, not a silent state."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar


class SubmissionStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    VERIFIED = "verified"
    FAILED = "failed"
    QUARANTINED = "quarantined"


S = SubmissionStatus
TRANSITIONS: dict[SubmissionStatus, frozenset[SubmissionStatus]] = {
    S.QUEUED: frozenset({S.RUNNING}),
    S.RUNNING: frozenset({S.QUEUED, S.VERIFIED, S.FAILED, S.QUARANTINED}),
    S.VERIFIED: frozenset({S.QUARANTINED}),
    S.QUARANTINED: frozenset({S.VERIFIED}),
    S.FAILED: frozenset({S.QUEUED}),
}
OPEN = (S.QUEUED, S.RUNNING)  # still in the verification queue
SCORED = (S.VERIFIED, S.QUARANTINED)  # carry a verified result (quarantined ones are hidden from rankings)
FINAL = (S.VERIFIED, S.FAILED, S.QUARANTINED)  # what a client waiting for verification waits for


class IllegalTransition(ValueError):
    pass


State = TypeVar("State", bound=StrEnum)


def checked_move(moves: dict[State, frozenset[State]], current: State, target: State, noun: str) -> State:
    """``target`` when ``moves`` allows it from ``current``; IllegalTransition otherwise. The one check behind
    every state machine of the platform (submissions here; agents and experiments in aar.results.lifecycle)."""
    if target not in moves[current]:
        raise IllegalTransition(f"a {current} {noun} cannot become {target}")
    return target


def transition(current: str, target: SubmissionStatus) -> SubmissionStatus:
    """``target`` when the move from ``current`` is legal; IllegalTransition otherwise."""
    return checked_move(TRANSITIONS, SubmissionStatus(current), target, "submission")
