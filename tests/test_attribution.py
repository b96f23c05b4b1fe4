"""Attribution: the knowledge-source ablations, the decomposition and the classes, on planted methods of each
shape (zero-shot anchors, a distilled text reader, a carried label table) and honest ones, in the real
sandbox; the pieces (stand-in text, label-table search, the rules) on their own; the campaign policy through a
real server; the audit's view of encoders loaded inside a method."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from tests.helpers.methods import ANCHORS, READER, TRUSTING
from tests.helpers.serverkit import TASK, agent, campaign, method_archive, wait_for

from aar.execution import ExecutionSettings, executor_for
from aar.execution.attribution import classify
from aar.execution.carried_labels import carried_labels
from aar.results.attribution import (
    AblationRecord,
    AttributionClass,
    AttributionPolicy,
)
from aar.results.intervals import IntervalRecord
from aar.server.verify import verify
from aar.snapshots import pack_files
from aar.tasks.schema import Example
from aar.w2s import Testbed, TestbedConfig
from aar.w2s.bundle import hide_text, placeholder

CODE_TASK = "code-sample"
SEEDS = [5_000_001, 5_000_002, 5_000_003]

def _verify(task: str, entry: str, files: dict[str, str]):
    snapshot = pack_files({k: v.encode() for k, v in files.items()})
    return verify(task, entry, {}, SEEDS, snapshot, 600, executor=executor_for(ExecutionSettings())).result


# --- the pieces ---------------------------------------------------------------------------------------------------
def test_stand_in_text_keeps_every_length_and_the_layout_and_no_word() -> None:
    rng = np.random.default_rng(0)
    text = "def f(x):\n    return x + 1  # the answer is 42\n\nGreat film!"
    hidden = placeholder(text, rng)
    assert len(hidden) == len(text)
    assert [i for i, c in enumerate(hidden) if c.isspace()] == [i for i, c in enumerate(text) if c.isspace()]
    words, stand_ins = text.split(), hidden.split()
    assert all(len(a) == len(b) and a != b for a, b in zip(words, stand_ins, strict=True))
    assert placeholder(text, rng) != hidden  # drawn afresh: the same word does not map to the same stand-in
    examples = [Example(id=f"id{i}", group=g, inputs={"prompt": "a b", "first": "great", "second": "awful"})
                for i, g in enumerate(["movies:x|y", "movies:x|y", "movies:z|w"])]
    unlabeled, groups = hide_text(examples, [e.group for e in examples], rng, b"k" * 16)
    assert groups[0] == groups[1] != groups[2] and "movies" not in "".join(groups)  # grouping kept, names gone
    assert all(e.id.startswith("item:") and "id" not in e.id[5:7] for e in unlabeled)
    assert all(e.inputs["first"] != "great" and len(e.inputs["first"]) == 5 for e in unlabeled)


def test_label_tables_in_code_are_found_in_every_shape_and_chance_tables_are_not() -> None:
    rng = np.random.default_rng(3)
    labels = (rng.random(300) < 0.3).astype(int)  # imbalanced: a constant table agrees 70% by chance alone
    ids = [f"{i:016x}" for i in range(300)]
    splits = {"dev": (ids[:150], labels[:150]), "test": (ids[150:], labels[150:])}
    noisy = np.where(rng.random(150) < 0.15, 1 - labels[150:], labels[150:])
    array = io.BytesIO()
    np.save(array, labels[:150].astype(np.float32))
    found = carried_labels(pack_files({
        "list.py": f"HARD = {noisy.tolist()!r}\n".encode(),  # test labels in order, 15% wrong
        "bits.py": ("BITS = '" + "".join(map(str, 1 - labels[:150])) + "'\n").encode(),  # inverted dev labels
        "ids.json": json.dumps(dict(zip(ids[:80], map(int, labels[:80]), strict=True))).encode(),
        "table.npy": array.getvalue(),
    }), splits)
    assert {(f["file"], f["matches"]) for f in found} == {("list.py", "test in order"), ("bits.py", "dev in order"),
                                                          ("ids.json", "item ids"), ("table.npy", "dev in order")}
    assert carried_labels(pack_files({
        "ones.py": f"PRIOR = {[0] * 150!r}\n".encode(),  # the majority class: agrees 70%, but by chance
        "random.py": f"R = {rng.integers(0, 2, 150).tolist()!r}\n".encode(),
        "short.py": f"S = {labels[:30].tolist()!r}\n".encode(),  # too short to prove anything
        "deep.json": b"[" * 200_000,  # hostile: nested past the parser's recursion limit
        "bomb.npz": _zip_bomb(),  # hostile: a small archive that expands to 64 MB
        "broken.npz": b"PK\x03\x04 not an archive",
    }), splits) == []


def _zip_bomb() -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", b"\0" * (64 * 2**20))
    return out.getvalue()


def test_an_archive_that_would_expand_past_the_bound_is_never_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    from aar.execution import carried_labels as module

    opened = []
    monkeypatch.setattr(module.np, "load", lambda *a, **k: opened.append(1))
    assert module.tables_in_file("bomb.npz", _zip_bomb()) == [] and not opened


def _ablation(pgr: float, lo: float, drop: float = 0.0, p: float = 1.0, acc_lo: float = 0.5) -> AblationRecord:
    return AblationRecord(pgr=IntervalRecord(mean=pgr, lo=lo, hi=pgr + 0.1),
                          student_acc=IntervalRecord(mean=acc_lo + 0.02, lo=acc_lo, hi=acc_lo + 0.04),
                          drop=IntervalRecord(mean=drop, lo=drop - 0.05, hi=drop + 0.05), p_value=p)


@pytest.mark.parametrize(("no_teacher", "no_text", "no_strong", "carried", "expected"), [
    ((-0.8, -1.0), (0.5, 0.4, 0.0, 1.0), (-1.0, -1.2), [], AttributionClass.W2S),
    ((0.45, 0.3), (0.5, 0.4, 0.0, 1.0), (-1.0, -1.2), [], AttributionClass.ZERO_SHOT),
    ((0.2, 0.05), (0.5, 0.4, 0.0, 1.0), (-1.0, -1.2), [], AttributionClass.W2S),  # less than half survives
    ((0.5, 0.4), (-0.5, -0.6, 1.0, 0.001), (-1.0, -1.2), [], AttributionClass.READS_TEXT),
    ((0.5, 0.4), (0.47, 0.4, 0.03, 0.001), (-1.0, -1.2), [], AttributionClass.ZERO_SHOT),  # too small a drop
    ((0.5, 0.4), (0.5, 0.4, 0.0, 1.0), (0.3, 0.2), [], AttributionClass.RESEARCHER_KNOWLEDGE),
    ((-0.8, -1.0), (0.5, 0.4, 0.0, 1.0), (-1.0, -1.2), [{"file": "m.py", "matches": "dev in order", "items": 99,
                                                       "agreement": 1.0, "chance": 0.5, "p_value": 1e-30}],
     AttributionClass.RESEARCHER_KNOWLEDGE),
])
def test_classes_follow_what_each_ablation_took_away(no_teacher, no_text, no_strong, carried, expected) -> None:
    ablations = {"no_teacher": _ablation(*no_teacher),
                 "no_text": _ablation(no_text[0], no_text[1], drop=no_text[2], p=no_text[3]),
                 "no_strong": _ablation(*no_strong, acc_lo=0.8 if no_strong[0] > 0 else 0.45)}
    kind, reasons = classify(IntervalRecord(mean=0.5, lo=0.4, hi=0.6), ablations, carried, weak_bar=0.7)
    assert kind == expected and (kind == AttributionClass.W2S) == (not reasons)


def test_the_decomposition_adds_up_in_every_draw_and_follows_each_source() -> None:
    """Synthetic correctness: weak right on 60% of items, ceiling on 90%; a student at 80% (PGR 2/3)."""
    from aar.stats.decompose import decompose_pgr, split_pgr

    rng = np.random.default_rng(0)

    def correct(share: float) -> np.ndarray:
        return (rng.random((3, 2000)) < share).astype(np.int8)

    weak, ceiling, student = correct(0.6), correct(0.9), correct(0.8)
    chance = correct(0.5)
    w2s = decompose_pgr(weak, ceiling, student, chance, student, None)  # collapses without its teacher
    assert w2s.teacher.mean == pytest.approx(2 / 3, abs=0.03) and w2s.strong_prior.mean == 0 == w2s.researcher.mean
    assert w2s.teacher.lo < w2s.teacher.mean < w2s.teacher.hi <= 1  # an interval of the part, not of a raw drop
    zero_shot = decompose_pgr(weak, ceiling, student, correct(0.78), student, None)
    assert zero_shot.strong_prior.mean > 0.5 and zero_shot.teacher.mean < 0.1
    reader = decompose_pgr(weak, ceiling, student, student, chance, chance)  # needs text, not the teacher
    assert reader.researcher.mean == pytest.approx(2 / 3, abs=0.03) and reader.teacher.mean == 0
    failed = decompose_pgr(weak, ceiling, student, 0.0, 0.0, None)  # ablations that failed: PGR 0 there
    assert failed.teacher.mean == pytest.approx(2 / 3, abs=0.03)
    parts = split_pgr(np.array([0.5, -0.2, 0.8]), np.array([0.3, 0.1, 0.9]), np.array([0.5, 0.0, 0.1]),
                      np.array([0.0, 0.0, 0.5]))
    assert np.allclose(sum(parts), [0.5, 0.0, 0.8]) and all(np.all(p >= 0) for p in parts)


def test_policy_allows_w2s_always_and_researcher_knowledge_never() -> None:
    default, strict, open_ = AttributionPolicy(), AttributionPolicy(allow_zero_shot=False), \
        AttributionPolicy(allow_text_reading=True)
    assert all(p.allows(AttributionClass.W2S) for p in (default, strict, open_))
    assert not any(p.allows(AttributionClass.RESEARCHER_KNOWLEDGE) for p in (default, strict, open_))
    assert default.allows(AttributionClass.ZERO_SHOT) and not strict.allows(AttributionClass.ZERO_SHOT)
    assert not default.allows(AttributionClass.READS_TEXT) and open_.allows(AttributionClass.READS_TEXT)


def test_the_board_ranks_weak_to_strong_results_above_zero_shot_ones() -> None:
    from aar.results.api import AttributionView, SubmissionView
    from aar.results.intervals import IntervalRecord
    from aar.server.views import board_order

    def row(i: int, status: str, pgr: float, kind: str | None) -> SubmissionView:
        attribution = None if kind is None else AttributionView.model_construct(kind=kind)
        return SubmissionView.model_construct(id=i, status=status, pgr=IntervalRecord(mean=pgr),
                                              attribution=attribution)

    rows = [row(1, "verified", 0.84, "zero-shot"), row(2, "verified", 0.51, "w2s"), row(3, "verified", 0.40, None),
            row(4, "quarantined", 0.99, "reads-text")]
    assert [r.id for r in sorted(rows, key=board_order)] == [2, 3, 1, 4]


# --- planted methods in the real sandbox ----------------------------------------------------------------------------
def test_honest_methods_are_w2s_and_untouched_by_hidden_text() -> None:
    for entry, files in (("vanilla", {"x.py": "\n"}), ("method.py:Trusting", {"method.py": TRUSTING})):
        result = _verify(TASK, entry, files)
        a = result.attribution
        assert a is not None and a.kind == AttributionClass.W2S and a.allowed, (entry, a)
        text = a.ablations["no_text"]
        assert text.ok and text.agreement == 1.0 and text.drop.mean == 0.0  # models only: nothing moved at all
        teacher = a.ablations["no_teacher"]
        assert teacher.ok and teacher.drop.lo > 0
        assert a.decomposition.teacher == pytest.approx(max(0, result.pgr.mean), abs=1e-3)
        assert not a.carried_labels and not a.encoder_texts


def test_zero_shot_anchors_are_zero_shot_and_their_sentences_are_on_record() -> None:
    result = _verify(TASK, "anchors.py:Anchors", {"anchors.py": ANCHORS})
    a = result.attribution
    assert a is not None and a.kind == AttributionClass.ZERO_SHOT, a
    assert a.ablations["no_teacher"].pgr.mean > 0.5 * result.pgr.mean
    assert a.decomposition.strong_prior > a.decomposition.teacher
    assert a.encoder_texts["calls"] >= len(SEEDS) and "a great film, moving and beautifully made" in \
        a.encoder_texts["samples"]
    # loading a packaged encoder inside a method reads library settings, not secrets
    assert result.audit is not None and not result.audit.counts.get("secret_env"), result.audit.counts


def test_a_distilled_text_reader_reads_text_and_is_not_allowed_by_default() -> None:
    result = _verify(CODE_TASK, "reader.py:Reader", {"reader.py": READER})
    a = result.attribution
    assert a is not None and a.kind == AttributionClass.READS_TEXT and not a.allowed, a
    text = a.ablations["no_text"]
    assert text.drop.mean >= 0.05 and text.p_value < 0.01
    # the source ablation alone cannot see it: with noise features the distilled student fails like an honest one
    assert not a.beats_weak_without_sources


def test_hard_coded_labels_make_researcher_knowledge() -> None:
    bed = Testbed(TestbedConfig(task=TASK))
    table = dict(zip((e.id for e in bed.task.splits["dev"]), map(int, bed.labels["dev"]), strict=True))
    source = TRUSTING + f"\nKNOWN = {table!r}\n"
    a = _verify(TASK, "method.py:Trusting", {"method.py": source}).attribution
    assert a is not None and a.kind == AttributionClass.RESEARCHER_KNOWLEDGE and not a.allowed
    assert a.carried_labels[0]["matches"] == "item ids" and a.carried_labels[0]["agreement"] == 1.0


# --- the policy through a real server ---------------------------------------------------------------------------------
def test_campaign_policy_decides_what_is_quarantined_at_verification(server, tmp_path: Path) -> None:
    base, db = server
    for name, policy in (("policy-default", {}), ("policy-open", {"allow_text_reading": True})):
        campaign(base, f"{name}-{'s' if db else 'p'}", verify_seeds=[7, 8], **policy)
        client = agent(base, f"{name}-{'s' if db else 'p'}", "reader")
        me = client.get("/v1/me").json()
        assert me["policy"] == {"allow_zero_shot": True, "allow_text_reading": bool(policy)}
        r = client.post("/v1/submissions", json={"task": CODE_TASK, "entry": "method.py:Reader", "params": {},
                                                 "archive": method_archive(tmp_path / name, READER)})
        assert r.status_code == 202, r.text
        done = wait_for(client, r.json()["id"], ("verified", "failed", "quarantined"), timeout_s=600)
        assert done["attribution"]["class"] == "reads-text", done
        if policy:
            assert done["status"] == "verified" and done["attribution"]["allowed"]
        else:
            assert done["status"] == "quarantined" and "[attribution] class reads-text" in done["quarantine_reason"]
        board = client.get("/v1/leaderboard").json()["entries"]
        assert board[0]["attribution"]["pgr_without"]["no_text"] < board[0]["pgr"]["mean"]
