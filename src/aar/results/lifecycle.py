"""An agent's states and stop reasons, and an experiment's statuses, each with the only moves between them (the
model is :mod:`aar.results.submission`). The database stores the values (``StrEnum`` members compare equal to
their strings, so stored rows need no migration); writers check a move with :func:`agent_move` /
:func:`experiment_move`, and readers ask :func:`stop_kind` instead of matching reason strings by prefix.

Agent states::

    created -> active | running | stopped     (an MCP client's first call; an aar loop starts; stopped early)
    active <-> running, active | running -> stopped
    stopped -> running | active                (a restarted researcher, a returning MCP client)
    inherited                                  (stands for an earlier campaign's author: never moves)

Experiment statuses::

    queued -> running -> done | failed
    running -> queued                          (lease expired: the worker died; re-queued)
    running -> failed                          (lease expired too often: the sweep gives up)
"""

from __future__ import annotations

from enum import StrEnum

from aar.results.submission import IllegalTransition, checked_move


class AgentState(StrEnum):
    CREATED = "created"  # made by the admin; not heard from yet
    ACTIVE = "active"  # an MCP client has called (aar does not see its loop)
    RUNNING = "running"  # an aar researcher loop runs
    STOPPED = "stopped"
    INHERITED = "inherited"  # stands for an earlier campaign's author (aar.server.heritage)


A = AgentState
AGENT_MOVES: dict[AgentState, frozenset[AgentState]] = {
    A.CREATED: frozenset({A.ACTIVE, A.RUNNING, A.STOPPED}),
    A.ACTIVE: frozenset({A.ACTIVE, A.RUNNING, A.STOPPED}),
    A.RUNNING: frozenset({A.RUNNING, A.ACTIVE, A.STOPPED}),
    A.STOPPED: frozenset({A.STOPPED, A.RUNNING, A.ACTIVE}),
    A.INHERITED: frozenset(),
}


class StopKind(StrEnum):
    """Why a researcher stopped; each is an end (a supervisor does not start it again). A reason is the kind,
    optionally followed by ``": "`` and details (``budget: dollars, tokens``)."""

    FINISHED = "finished"
    BUDGET = "budget"
    WALL_TIME = "wall time"
    IDLE = "idle"
    MAX_TURNS = "max turns"


class ExperimentStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


E = ExperimentStatus
EXPERIMENT_MOVES: dict[ExperimentStatus, frozenset[ExperimentStatus]] = {
    E.QUEUED: frozenset({E.RUNNING}),
    E.RUNNING: frozenset({E.QUEUED, E.DONE, E.FAILED}),
    E.DONE: frozenset(),
    E.FAILED: frozenset(),
}


def agent_move(current: str, target: str) -> AgentState:
    """``target`` as an AgentState when the move from ``current`` is legal; IllegalTransition otherwise (also for a
    value that is not a state)."""
    try:
        now, then = AgentState(current), AgentState(target)
    except ValueError:
        raise IllegalTransition(f"unknown agent state in {current!r} -> {target!r}") from None
    return checked_move(AGENT_MOVES, now, then, "agent")


def experiment_move(current: str, target: str) -> ExperimentStatus:
    return checked_move(EXPERIMENT_MOVES, ExperimentStatus(current), ExperimentStatus(target), "experiment")


def stop_reason(kind: StopKind, detail: str = "") -> str:
    return f"{kind}: {detail}" if detail else str(kind)


def stop_kind(reason: str | None) -> StopKind | None:
    """The kind of a stored stop reason; None for no reason or one that is not an end (a crash, a kill)."""
    if not reason:
        return None
    head = reason.split(":", 1)[0].strip()
    try:
        return StopKind(head)
    except ValueError:
        return None
