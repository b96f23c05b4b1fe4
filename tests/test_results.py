"""The result shapes at the bottom of the layers: one interval formatter, the submission state machine, the
transfer file's reader, and the one PGR function."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from aar.errors import AarError
from aar.results.intervals import format_interval, format_p
from aar.results.submission import FINAL, OPEN, SCORED, IllegalTransition, SubmissionStatus, transition
from aar.results.transfer import TransferResult, load_transfer, save_transfer
from aar.stats import Interval
from aar.stats.pgr import pgr, pgr_value


def test_one_interval_format_for_dicts_objects_and_missing_values() -> None:
    assert format_interval({"mean": 0.5, "lo": 0.25, "hi": 0.75}) == "0.50 [0.25, 0.75]"
    assert format_interval(Interval(0.5, 0.25, 0.75), 3) == "0.500 [0.250, 0.750]"
    assert format_interval({"mean": 0.5, "lo": None, "hi": None}) == "0.50"  # one seed: no interval
    assert format_interval(Interval(0.5, math.nan, math.nan)) == "0.50"
    for missing in (None, {}, {"mean": None}, {"mean": math.nan, "lo": 0, "hi": 1}):
        assert format_interval(missing) == "–"
    assert format_p(0.01234) == "0.012" and format_p(None) == "–" and format_p(math.nan) == "–"


def test_submission_statuses_move_only_along_legal_edges() -> None:
    S = SubmissionStatus
    assert transition("queued", S.RUNNING) is S.RUNNING
    for status in (S.QUEUED, S.VERIFIED, S.FAILED, S.QUARANTINED):
        assert transition("running", status) is status
    assert transition("verified", S.QUARANTINED) is S.QUARANTINED and transition("quarantined", S.VERIFIED)
    assert transition("failed", S.QUEUED) is S.QUEUED
    for current, target in (("queued", S.VERIFIED), ("verified", S.QUEUED), ("failed", S.VERIFIED),
                            ("quarantined", S.FAILED), ("verified", S.RUNNING)):
        with pytest.raises(IllegalTransition, match=f"a {current} submission cannot become {target}"):
            transition(current, target)
    with pytest.raises(ValueError):
        transition("lost", S.QUEUED)
    assert set(OPEN) | set(FINAL) == set(S) and set(SCORED) < set(FINAL)
    assert S.VERIFIED == "verified" and json.dumps({"s": S.FAILED}) == '{"s": "failed"}'  # stored as plain text


def test_transfer_file_round_trip_and_clear_errors(tmp_path: Path) -> None:
    assert load_transfer(tmp_path) is None
    result = TransferResult.model_validate({"campaign": "c", "environments": [], "subjects": [], "cells": [],
                                            "seeds": [2000], "lab_pair": {"weak": "glove-50d", "strong": ""}})
    path = save_transfer(tmp_path / "c", result)
    assert load_transfer(tmp_path / "c") == result and path.name == "transfer.json"
    assert json.loads(path.read_text()) == {"campaign": "c", "environments": [], "subjects": [], "cells": [],
                                            "seeds": [2000], "lab_pair": {"weak": "glove-50d", "strong": ""}}
    path.write_text("{not json")
    with pytest.raises(AarError, match="not a readable transfer result"):
        load_transfer(tmp_path / "c")
    path.write_text('{"campaign": "c"}')
    with pytest.raises(AarError, match="missing cells, environments, subjects"):
        load_transfer(tmp_path / "c")
    path.write_text('{"campaign": "c", "environments": [], "subjects": [], "cells": [{"status": "fine"}]}')
    with pytest.raises(AarError, match="not a transfer result"):
        load_transfer(tmp_path / "c")


def test_one_pgr_function_for_arrays_and_numbers() -> None:
    assert pgr_value(0.6, 0.8, 0.7) == pytest.approx(0.5)
    assert pgr_value(0.6, 0.6, 0.7) is None  # no gap: undefined, never a division by zero
    draws = pgr(np.array([0.6, 0.6]), np.array([0.8, 0.6]), np.array([0.8, 0.9]))
    assert draws[0] == pytest.approx(1.0) and np.isnan(draws[1])


def test_campaign_results_correct_p_values_and_rank_only_verified_submissions(tmp_path: Path) -> None:
    from aar.campaign.results import compute_results
    from aar.results.campaign import AgentRow, CampaignResults, SubmissionRow

    def row(sub_id: int, task: str, status: str, pgr: float | None, p: float | None) -> SubmissionRow:
        result = None if pgr is None else {"pgr": {"mean": pgr, "lo": pgr - 0.1, "hi": pgr + 0.1},
                                           "dev_pgr": {"mean": pgr + 0.05, "lo": 0, "hi": 1},
                                           "vanilla_pgr": {"mean": 0.1, "lo": 0, "hi": 0.2},
                                           "vs_vanilla": {"diff": {"mean": 0.1, "lo": 0.0, "hi": 0.196} if p else
                                                          {"mean": 0.1}, "p_value": p}}
        return SubmissionRow.model_validate({"id": sub_id, "agent": f"a{sub_id}", "task": task, "entry": "m.py:M",
                                             "status": status, "result": result})

    submissions = [row(1, "chat", "verified", 0.30, 0.01), row(2, "chat", "verified", 0.50, 0.02),
                   row(3, "chat", "quarantined", 2.0, 0.0001), row(4, "math", "failed", None, None),
                   row(5, "math", "verified", 0.05, None)]
    agents = [AgentRow(name="a1", state="stopped", cost_usd=1.5, dev_evals_used=3),
              AgentRow(name="a2", state="stopped", cost_usd=0.5, dev_evals_used=4)]
    result = compute_results("c", ["chat", "math", "code"], submissions, agents, [], wall_s=60)
    assert result.cost_usd == 2.0 and result.dev_evaluations == 7
    chat, math_row, code = result.tasks["chat"], result.tasks["math"], result.tasks["code"]
    assert chat.best.submission == 2 and chat.verified_submissions == 2  # the quarantined 2.0 is not ranked
    by_id = {s.id: s for s in result.submissions}
    assert by_id[1].p_holm == pytest.approx(0.03) and by_id[2].p_holm == pytest.approx(0.04)  # Holm over 3 tests
    assert by_id[5].p_holm == pytest.approx(1.0)  # no p-value counts as 1
    assert by_id[3].p_holm is None and by_id[4].p_holm is None  # only verified ones enter the correction
    assert chat.best.significant_holm and chat.best.dev_test_gap == pytest.approx(0.05)
    assert math_row.best.submission == 5 and code.best is None and code.vanilla_pgr is None
    # what a p-value could show: a paired interval of +-0.098 (se 0.05) detects 0.171 at p < 0.01, 80% power
    assert chat.best.detectable == pytest.approx(0.1709, abs=1e-3) and math_row.best.detectable is None
    result.save(tmp_path)
    again = CampaignResults.load(tmp_path)
    assert again == result and '"significant_holm_0.05": true' in (tmp_path / "results.json").read_text()
    (tmp_path / "results.json").write_text('{"campaign": 3}')
    with pytest.raises(AarError, match="not a campaign result"):
        CampaignResults.load(tmp_path)


def test_the_headline_ranks_weak_to_strong_results_and_lists_zero_shot_apart() -> None:
    """A zero-shot result above every w2s one is not the task's best method; it has its own row. A result
    verified before attribution existed still counts as weak-to-strong (nothing says otherwise)."""
    from aar.campaign.results import compute_results
    from aar.report.terminal import campaign_table
    from aar.results.campaign import SubmissionRow

    def row(sub_id: int, pgr: float, kind: str | None, teacher: float | None) -> SubmissionRow:
        result = {"pgr": {"mean": pgr, "lo": pgr - 0.1, "hi": pgr + 0.1}, "dev_pgr": {"mean": pgr},
                  "vanilla_pgr": {"mean": 0.1}, "vs_vanilla": {"p_value": 0.01}}
        if kind is not None:
            result["attribution"] = {"kind": kind, "decomposition": {"teacher": teacher,
                                                                     "teacher_interval": {"mean": teacher,
                                                                                          "lo": 0.1, "hi": 0.5}}}
        return SubmissionRow.model_validate({"id": sub_id, "agent": f"a{sub_id}", "task": "chat", "entry": "m.py:M",
                                             "status": "verified", "result": result})

    result = compute_results("c", ["chat", "math"], [row(1, 0.84, "zero-shot", 0.04), row(2, 0.50, "w2s", 0.31),
                                                      row(3, 0.40, None, None)], [], [], wall_s=1)
    chat = result.tasks["chat"]
    assert chat.best.submission == 2 and chat.best.attribution_class == "w2s" and chat.best.teacher_pgr == 0.31
    assert chat.best_zero_shot.submission == 1 and chat.best_zero_shot.attribution_class == "zero-shot"
    only_old = compute_results("c", ["chat"], [row(3, 0.40, None, None)], [], [], wall_s=1).tasks["chat"]
    assert only_old.best.submission == 3 and only_old.best.attribution_class == "unattributed"

    from rich.console import Console

    console = Console(width=250, record=True)
    console.print(campaign_table(result))
    text = console.export_text()
    lines = [line for line in text.splitlines() if "chat" in line]
    assert len(lines) == 2 and "w2s" in lines[0] and "zero-shot" in lines[1]
    assert "0.31 [0.10, 0.50]" in lines[0] and "0.84 [0.74, 0.94]" in lines[1]
    assert "none verified" in next(line for line in text.splitlines() if "math" in line)


def test_a_stored_verification_result_reads_back_with_exactly_its_keys() -> None:
    from aar.results.verification import IntervalRecord, VerificationResult

    computed = VerificationResult(seeds=3, test_items=10, pgr=IntervalRecord(mean=0.2, lo=float("nan"), hi=None),
                                  audit={"counts": {"network": 1}, "complete": True})
    stored = computed.to_json()
    assert "reused_from" not in stored and stored["pgr"] == {"mean": 0.2, "lo": None, "hi": None}
    assert VerificationResult.read(stored).to_json() == stored and VerificationResult.read(None) is None
    reused = computed.model_copy(update={"reused_from": 7}).to_json()
    assert reused["reused_from"] == 7 and {k: v for k, v in reused.items() if k != "reused_from"} == stored
    assert computed.audit.counts == {"network": 1} and not computed.above_ceiling


def test_leaderboard_ranks_within_each_task() -> None:
    from aar.results.api import SubmissionView
    from aar.results.intervals import IntervalRecord
    from aar.server.views import ranked

    def row(i: int, task: str, pgr: float, status: str = "verified") -> SubmissionView:
        return SubmissionView(id=i, agent="a", task=task, entry="vanilla", params={}, snapshot_sha256="0" * 64,
                              status=status, seeds=5, submitted_at="2026-12-07T00:00:00", finished_at=None,
                              pgr=IntervalRecord(mean=pgr))

    rows = ranked([row(1, "chat", 0.4), row(2, "code", 0.9), row(3, "chat", 0.6), row(4, "code", 0.5),
                   row(5, "chat", 0.99, "failed")])
    assert [(r.id, r.rank) for r in rows] == [(2, 1), (3, 1), (4, 2), (1, 2), (5, None)]
