"""Agent states, stop reasons and experiment statuses: the legal moves, and the readers that use them."""

from __future__ import annotations

import pytest

from aar.results.campaign import AgentRow
from aar.results.lifecycle import (
    AGENT_MOVES,
    EXPERIMENT_MOVES,
    AgentState,
    ExperimentStatus,
    StopKind,
    agent_move,
    experiment_move,
    stop_kind,
    stop_reason,
)
from aar.results.submission import IllegalTransition


def test_agent_moves_follow_the_table() -> None:
    assert agent_move("created", "active") == AgentState.ACTIVE
    assert agent_move("stopped", "running") == AgentState.RUNNING  # a restarted researcher
    for target in AgentState:  # a stand-in for an earlier campaign's author never moves
        with pytest.raises(IllegalTransition):
            agent_move("inherited", target)
    for bad in (("running", "created"), ("created", "inherited"), ("active", "nonsense")):
        with pytest.raises(IllegalTransition):
            agent_move(*bad)
    assert all(AgentState.INHERITED not in targets for targets in AGENT_MOVES.values())


def test_experiment_moves_follow_the_table_and_match_the_queue() -> None:
    from aar.server.experiment_jobs import STATES

    assert experiment_move("queued", "running") == ExperimentStatus.RUNNING
    assert experiment_move("running", "queued") == ExperimentStatus.QUEUED  # lease expired
    for bad in (("done", "queued"), ("failed", "running"), ("queued", "done")):
        with pytest.raises(IllegalTransition):
            experiment_move(*bad)
    # the leased queue's moves are legal ones: claim, expire (re-queue or give up), finish
    assert STATES.running in EXPERIMENT_MOVES[ExperimentStatus(STATES.queued)]
    assert {STATES.queued, STATES.failed} <= EXPERIMENT_MOVES[ExperimentStatus(STATES.running)]


def test_stop_reasons_are_parsed_by_kind_not_by_prefix_strings() -> None:
    assert stop_reason(StopKind.BUDGET, "dollars, tokens") == "budget: dollars, tokens"
    assert stop_kind("budget: dollars, tokens") == StopKind.BUDGET
    assert stop_kind("wall time") == StopKind.WALL_TIME
    assert stop_kind("killed by signal 9") is None and stop_kind(None) is None and stop_kind("budgetary") is None
    from aar.campaign.supervisor import done

    assert done(AgentRow(name="a", state="stopped", stop_reason="max turns"))
    assert not done(AgentRow(name="a", state="stopped", stop_reason="crashed"))
    assert not done(AgentRow(name="a", state="running", stop_reason="finished"))
