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
from aar.results.transfer import load_transfer, save_transfer
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
    result = {"campaign": "c", "environments": [], "subjects": [], "cells": [], "seeds": [2000]}
    path = save_transfer(tmp_path / "c", result)
    assert load_transfer(tmp_path / "c") == result and path.name == "transfer.json"
    path.write_text("{not json")
    with pytest.raises(AarError, match="not a readable transfer result"):
        load_transfer(tmp_path / "c")
    path.write_text('{"campaign": "c"}')
    with pytest.raises(AarError, match="missing cells, environments, subjects"):
        load_transfer(tmp_path / "c")


def test_one_pgr_function_for_arrays_and_numbers() -> None:
    assert pgr_value(0.6, 0.8, 0.7) == pytest.approx(0.5)
    assert pgr_value(0.6, 0.6, 0.7) is None  # no gap: undefined, never a division by zero
    draws = pgr(np.array([0.6, 0.6]), np.array([0.8, 0.6]), np.array([0.8, 0.9]))
    assert draws[0] == pytest.approx(1.0) and np.isnan(draws[1])
