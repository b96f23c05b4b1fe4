"""Trust boundary v2: what the attacks of the second review got, each planted again in its own shape.

One test (or one group) per row of the review: verification is silent, public metadata bears no label, the
dev channel is one per campaign, the forum refuses label payloads, the audit witness matches meaning, every
sandbox is its own, resubmission is idempotent, data import is bounded, and researchers hold a ledger token
of their own scope.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.helpers.serverkit import TASK, agent, campaign, method_archive, wait_for

from aar.execution.failure import PUBLIC_EXCEPTION_TYPES, parse_child_error, public_text, public_type

# fails on the split it predicts second (the test split at verification) with ~1 KB of that split's features in
# its message and on stdout: what a deliberately failing submission once carried back
FEATURE_LEAK = '''
import numpy as np
from aar.methods.base import Method


class Leaky(Method):
    name = "leaky"

    def train(self, ctx):
        fitted = ctx.fit(ctx.weak_soft)
        calls = []

        class Predictor:
            def predict_proba(self, x):
                calls.append(len(x))
                if len(calls) == 2:
                    values = ",".join(f"{v:.6g}" for v in np.asarray(x, dtype=float).ravel()[:150])
                    print("LEAK", values, flush=True)
                    raise ValueError("LEAK " + values)
                return fitted.predict_proba(x)

        return Predictor()
'''


def test_a_failing_verification_returns_a_fixed_sentence_not_the_test_features(server, tmp_path: Path) -> None:
    base, _ = server
    campaign(base, "silent", verify_seeds=[3], submit_budget=2)
    eve = agent(base, "silent", "eve")
    r = eve.post("/v1/submissions", json={"task": TASK, "entry": "method.py:Leaky", "params": {},
                                           "archive": method_archive(tmp_path / "leak", FEATURE_LEAK)})
    assert r.status_code == 202, r.text
    failed = wait_for(eve, r.json()["id"], ("verified", "failed", "quarantined"))
    assert failed["status"] == "failed", failed
    assert failed["error"] == public_text("raised", "ValueError")
    reply = eve.get("/v1/submissions").text + eve.get("/v1/leaderboard").text
    assert "LEAK" not in reply and not re.search(r"\d\.\d+(e-?\d+)?,-?\d", reply)  # no list of values


def test_method_chosen_exception_types_and_error_records_are_bounded() -> None:
    # a type named after data reads "Exception"; the error channel is the method's to write, so a record that
    # is not ours is text of unknown type
    assert public_type("Leak_0_1234_5678") == "Exception" and public_type("ValueError") == "ValueError"
    assert len(PUBLIC_EXCEPTION_TYPES) < 40
    assert parse_child_error('{"type": 5, "text": ["x"]}')[0] is None
    assert parse_child_error("not json")[2] == "not json"
    for kind in ("raised", "timeout", "not_applicable", "output", "exited", "setup"):
        assert not re.search(r"\d", public_text(kind, "Leak_99"))


@pytest.mark.parametrize("kind", ["raised", "exited"])
def test_public_text_never_formats_a_value(kind: str) -> None:
    assert "{" not in public_text(kind, "ValueError")
