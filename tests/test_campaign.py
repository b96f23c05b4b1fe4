"""`aar run` end to end on the embedded default, killed with SIGKILL mid-campaign and resumed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from aar.campaign.directions import DIRECTIONS, draw, load_directions
from aar.errors import AarError
from aar.researchers.transcript import read as read_transcript


def test_directions_are_drawn_without_replacement(tmp_path: Path) -> None:
    drawn = draw(DIRECTIONS, len(DIRECTIONS), seed=3)
    assert sorted(d.key for d in drawn) == sorted(d.key for d in DIRECTIONS)
    assert len(draw(DIRECTIONS, 8, seed=1)) == 8
    assert all(d.vague != d.specific for d in DIRECTIONS)
    custom = tmp_path / "dirs.txt"
    custom.write_text("# mine\nlook at the data\n\nask why the teacher fails\n")
    assert [d.vague for d in load_directions(custom)] == ["look at the data", "ask why the teacher fails"]
    custom.write_text("# nothing\n")
    with pytest.raises(AarError, match="no directions"):
        load_directions(custom)


def _evaluations(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=30) as con:
            return con.execute("SELECT count(*) FROM evaluations").fetchone()[0]
    except sqlite3.Error:
        return 0


def _dashboard_transfer_page(folder: Path, entrants: int) -> None:
    """The dashboard's Transfer tab shows the gauntlet's table (a real `aar serve` on the campaign's database,
    a real Chromium for the screenshot)."""
    import httpx
    from tests.helpers.browser import screenshot, signed_in_page
    from tests.helpers.postgres import start_aar_server
    from tests.helpers.serverkit import ADMIN

    proc, base = start_aar_server(f"sqlite:///{folder / 'aar.db'}", ADMIN)
    try:
        with httpx.Client(base_url=base) as client:
            assert client.post("/dashboard/login", data={"token": ADMIN}).status_code == 303
            page = client.get("/dashboard/c/crashy/transfer")
        assert page.status_code == 200 and "task code-sample" in page.text and "Lab vs transfer" in page.text
        with signed_in_page(base, ADMIN) as tab:
            tab.goto(f"{base}/dashboard/c/crashy/transfer")
            assert tab.locator("#transfer tbody tr").count() == entrants
            screenshot(tab, "sqlite-transfer")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _check_transfer(folder: Path, result: dict) -> None:
    """`aar run` ended with the gauntlet (one task: holdout and two other pairs); `aar transfer` then adds a
    held-out task and reuses every cell it already computed."""
    transfer = json.loads((folder / "transfer.json").read_text())
    best = result["tasks"]["chat-sample"]["best"]
    (submission,) = [s for s in transfer["subjects"] if s["kind"] == "submission"]
    assert submission["submission_id"] == best["submission"] and submission["lab"]["pgr"] == best["pgr"]
    assert {s["entry"] for s in transfer["subjects"] if s["kind"] == "baseline"} == {"vanilla", "aux_conf",
                                                                                    "confident"}
    assert [e["kind"] for e in transfer["environments"]] == ["holdout", "pair", "pair"]
    assert transfer["seeds"] == [2000, 2001] and len(transfer["cells"]) == 4 * 3
    for cell in transfer["cells"]:
        assert cell["status"] == "ok", cell
        assert cell["pgr"]["lo"] <= cell["pgr"]["mean"] <= cell["pgr"]["hi"] and 0 <= cell["p"] <= 1
        if not cell["subject"].startswith("baseline:vanilla"):
            assert cell["p_holm"] >= cell["p"] and cell["verdict"] in ("gain", "loss", "n.s.")
    more = subprocess.run([sys.executable, "-m", "aar.cli", "transfer", "crashy", "--task", "chat-sample", "--task",
                           "code-sample", "--seeds", "2", "--baseline", "vanilla", "--markdown", "--top-k", "1"],
                          capture_output=True, text=True, timeout=1200)
    assert more.returncode == 0, more.stdout[-3000:] + more.stderr[-3000:]
    assert "4 ran submitted code, 3 of them from the cache" in more.stdout
    assert "| task code-sample |" in more.stdout
    again = json.loads((folder / "transfer.json").read_text())
    moved = [c for c in again["cells"] if c["subject"] == submission["key"] and c["env"] == "task:code-sample"]
    assert len(moved) == 1 and moved[0]["status"] == "ok" and not moved[0]["cached"]
    _dashboard_transfer_page(folder, len(again["subjects"]))
    bad = subprocess.run([sys.executable, "-m", "aar.cli", "transfer", "crashy", "--pair", "glove-50d"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "WEAK,STRONG" in bad.stderr


@dataclass
class Crashed:
    """What the module's one campaign left: killed with SIGKILL after its first dev evaluation, then resumed."""

    folder: Path
    leftover: str  # processes of the campaign still alive 3 s after the kill
    rerun: subprocess.CompletedProcess  # `aar run --name crashy` again: refused, pointing at --resume
    resumed: subprocess.CompletedProcess
    result: dict


@pytest.fixture(scope="module")
def crashy(tmp_path_factory: pytest.TempPathFactory) -> Crashed:
    tmp_path = tmp_path_factory.mktemp("crashy")
    cmd = [sys.executable, "-m", "aar.cli", "run", "--name", "crashy", "--agents", "2", "--task", "chat-sample",
           "--dev-evals", "2", "--verify-seeds", "1", "--transfer-seeds", "2"]
    folder = Path(os.environ["AAR_HOME"]) / "campaigns" / "crashy"
    with (tmp_path / "first.log").open("w") as log:
        first = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 600
        while _evaluations(folder / "aar.db") < 1 and time.time() < deadline and first.poll() is None:
            time.sleep(0.5)
        assert first.poll() is None, (tmp_path / "first.log").read_text()[-2000:]
        first.send_signal(signal.SIGKILL)
        first.wait()
    deadline = time.time() + 3
    while time.time() < deadline:
        leftover = subprocess.run(["pgrep", "-f", "--campaign crashy"], capture_output=True, text=True)
        if leftover.stdout.strip() == "":
            break
        time.sleep(0.2)
    rerun = subprocess.run([sys.executable, "-m", "aar.cli", "run", "--name", "crashy"], capture_output=True,
                           text=True, timeout=60)
    resumed = subprocess.run([sys.executable, "-m", "aar.cli", "run", "--resume", "crashy"], capture_output=True,
                             text=True, timeout=1200)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    return Crashed(folder, leftover.stdout.strip(), rerun, resumed, json.loads((folder / "results.json").read_text()))


def test_sigkill_takes_the_server_and_researchers_with_it(crashy: Crashed) -> None:
    """They got SIGTERM from the kernel (PR_SET_PDEATHSIG): all gone within 3 s."""
    assert crashy.leftover == ""


def test_a_killed_campaign_is_resumed_by_name_not_started_again(crashy: Crashed) -> None:
    assert crashy.rerun.returncode == 2 and "--resume crashy" in crashy.rerun.stderr
    assert crashy.resumed.returncode == 0


def test_resume_loses_nothing_and_spends_nothing_twice(crashy: Crashed) -> None:
    agents = crashy.result["agents"]
    assert [a["state"] for a in agents] == ["stopped", "stopped"]
    assert all(a["stop_reason"] == "finished" and a["dev_evals_used"] == 2 for a in agents)
    assert _evaluations(crashy.folder / "aar.db") == sum(a["dev_evals_used"] for a in agents) == 4
    per_agent: dict[str, list] = {}
    for s in crashy.result["submissions"]:
        per_agent.setdefault(s["agent"], []).append(s)
    assert {a: len(subs) for a, subs in per_agent.items()} == {a["name"]: 1 for a in agents}  # no double submit
    assert all(s["status"] == "verified" for s in crashy.result["submissions"])


def test_results_are_verified_corrected_and_clean(crashy: Crashed) -> None:
    result = crashy.result
    assert [f for f in result["integrity"] if f["severity"] != "notice"] == []  # honest: nothing flagged
    chat = result["tasks"]["chat-sample"]
    assert chat["best"]["pgr"]["lo"] <= chat["best"]["pgr"]["mean"] <= chat["best"]["pgr"]["hi"]
    assert 0 <= chat["best"]["p_holm"] <= 1 and chat["best"]["p_holm"] >= chat["best"]["p_vs_vanilla"]


def test_transcripts_are_mirrored_whole_after_the_kill(crashy: Crashed) -> None:
    with sqlite3.connect(crashy.folder / "aar.db") as con:
        for a in crashy.result["agents"]:
            path = crashy.folder / "agents" / a["name"] / "transcript.jsonl"
            assert '"type": "stop"' in path.read_text()
            mirrored = [seq for (seq,) in con.execute(
                "SELECT seq FROM transcript_events JOIN agents ON agents.id = transcript_events.agent_id "
                "WHERE agents.name = ? ORDER BY seq", (a["name"],))]
            assert mirrored == [row["seq"] for row in read_transcript(path)]  # the dashboard lost nothing


def test_the_headline_and_gauntlet_tables_print_whole_in_a_log(crashy: Crashed) -> None:
    out = crashy.resumed.stdout
    headline = out[out.index("campaign crashy:"):]  # the headline and gauntlet tables
    assert "…" not in headline and all(line.count("[") == line.count("]") for line in headline.splitlines())


def test_the_report_is_self_contained_and_written_again_on_request(crashy: Crashed) -> None:
    report = (crashy.folder / "report.html").read_text()  # written by `aar run` at the end
    assert report.count("data:image/png;base64,") == 5 and "Headline" in report and "Holm" in report
    assert "<h2>Lab vs transfer</h2>" in report and "<h2>Integrity</h2>" in report
    assert all(a["name"] in report for a in crashy.result["agents"]) and "<script" not in report
    again = subprocess.run([sys.executable, "-m", "aar.cli", "report", "crashy"], capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0 and "report.html" in again.stdout
    as_json = subprocess.run([sys.executable, "-m", "aar.cli", "report", "crashy", "--json"], capture_output=True,
                             text=True, timeout=300)
    reported = json.loads(as_json.stdout)
    assert reported["report"].endswith("report.html") and reported["results"]["tasks"] == crashy.result["tasks"]
    missing = subprocess.run([sys.executable, "-m", "aar.cli", "report", "no-such-campaign"], capture_output=True,
                             text=True, timeout=60)
    assert missing.returncode == 2 and "no campaign" in missing.stderr


def test_the_gauntlet_ran_and_aar_transfer_extends_it_from_its_cache(crashy: Crashed) -> None:
    _check_transfer(crashy.folder, crashy.result)


@pytest.mark.parametrize("backend", ["anthropic", "openai"])
def test_campaign_with_llm_researchers(backend: str, tmp_path: Path) -> None:
    """`aar run --backend anthropic|openai`: two LLM researchers (a local fake server speaking the real wire
    protocol, one scripted session per researcher) do a whole campaign; cost is priced from real usage."""
    from tests.helpers.fake_llm import Scripts, anthropic_server, openai_server

    # honest researchers (a path escape would be an integrity finding)
    scripts = Scripts(escape=False, task="chat-sample")
    base, server = (anthropic_server if backend == "anthropic" else openai_server)(scripts)
    model = "claude-sonnet-5-5" if backend == "anthropic" else "gpt-5.4"
    name = f"llm-{backend}"
    env = {**os.environ, "ANTHROPIC_API_KEY": "sk-ant-test", "OPENAI_API_KEY": "sk-test"}
    try:
        run = subprocess.run([sys.executable, "-m", "aar.cli", "run", "--name", name, "--agents", "2", "--task",
                              "chat-sample", "--backend", backend, "--model", model, "--base-url",
                              base if backend == "anthropic" else f"{base}/v1", "--dev-evals", "3",
                              "--verify-seeds", "1", "--no-transfer"], env=env, capture_output=True, text=True,
                             timeout=1200)
    finally:
        server.should_exit = True
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads((Path(os.environ["AAR_HOME"]) / "campaigns" / name / "results.json").read_text())
    assert len(scripts.sessions) == 2 and all(s.step >= 8 for s in scripts.sessions.values())
    assert [a["stop_reason"] for a in result["agents"]] == ["finished", "finished"]
    assert all(a["llm_calls"] == 8 and a["input_tokens"] > 0 for a in result["agents"])
    if backend == "anthropic":  # priced from the built-in list; an OpenAI-compatible model needs --price
        assert all(a["cost_usd"] > 0 for a in result["agents"])
    assert len(result["submissions"]) == 2 and all(s["status"] == "verified" for s in result["submissions"])
    assert [f for f in result["integrity"] if f["severity"] != "notice"] == []
    assert result["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in result["agents"]))


def test_a_campaign_continues_from_an_earlier_one() -> None:
    """`aar run --continue-from`: the second campaign starts with the first's verified methods (queued and
    re-verified on its own seeds, authored by stand-ins named after the earlier campaign) and its forum (marked
    inherited); its researcher reads them; its results and report say which results are new."""
    common = ["--agents", "1", "--task", "chat-sample", "--dev-evals", "1", "--verify-seeds", "1", "--no-transfer"]
    elder = subprocess.run([sys.executable, "-m", "aar.cli", "run", "--name", "elder", *common], capture_output=True,
                           text=True, timeout=1200)
    assert elder.returncode == 0, elder.stdout[-3000:] + elder.stderr[-3000:]
    home = Path(os.environ["AAR_HOME"]) / "campaigns"
    with sqlite3.connect(home / "elder" / "aar.db") as con:  # a thread on elder's forum, as its researcher posts
        (author,) = con.execute("SELECT id FROM agents ORDER BY id LIMIT 1").fetchone()
        con.execute("INSERT INTO posts (campaign_id, agent_id, kind, title, body, tags, created_at) VALUES "
                    "(1, ?, 'result', 'soft labels help', 'dev PGR 0.4 with soft', 'chat', '2026-01-01')", (author,))
        con.execute("INSERT INTO posts (campaign_id, agent_id, parent_id, root_id, kind, title, body, tags, "
                    "created_at) VALUES (1, ?, 1, 1, 'insight', '', 'confirmed on 3 seeds', '', '2026-01-01')",
                    (author,))
    missing = subprocess.run([sys.executable, "-m", "aar.cli", "run", "--name", "orphan", "--continue-from",
                              "no-such-campaign", *common], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no campaign 'no-such-campaign'" in missing.stderr
    heir = subprocess.run([sys.executable, "-m", "aar.cli", "run", "--name", "heir", "--continue-from", "elder",
                           *common], capture_output=True, text=True, timeout=1200)
    assert heir.returncode == 0, heir.stdout[-3000:] + heir.stderr[-3000:]
    assert "inherited from elder: 1 verified method(s)" in heir.stdout
    before = json.loads((home / "elder" / "results.json").read_text())
    after = json.loads((home / "heir" / "results.json").read_text())
    (elder_sub,) = [s for s in before["submissions"] if s["status"] == "verified"]
    inherited = [s for s in after["submissions"] if s.get("inherited")]
    assert len(inherited) == 1 and inherited[0]["status"] == "verified"  # re-verified here, on heir's seeds
    origin = inherited[0]["inherited"]
    assert (origin["campaign"], origin["submission"], origin["agent"]) == ("elder", elder_sub["id"],
                                                                           elder_sub["agent"])
    assert inherited[0]["agent"] == f"elder~{elder_sub['agent']}" and inherited[0]["entry"] == elder_sub["entry"]
    new = [s for s in after["submissions"] if not s.get("inherited")]
    assert len(new) == 1 and new[0]["agent"] != inherited[0]["agent"]
    with sqlite3.connect(home / "elder" / "aar.db") as con:
        elder_posts = [(t, b) for t, b in con.execute("SELECT title, body FROM posts ORDER BY id")]
    with sqlite3.connect(home / "heir" / "aar.db") as con:
        carried = [(t, b, json.loads(o)) for t, b, o in con.execute(
            "SELECT title, body, origin FROM posts WHERE origin IS NOT NULL ORDER BY id")]
    assert elder_posts and [(t, b) for t, b, _ in carried] == elder_posts
    assert all(o["campaign"] == "elder" for _, _, o in carried)
    researcher = next(a["name"] for a in after["agents"] if a["state"] != "inherited")
    transcript = (home / "heir" / "agents" / researcher / "transcript.jsonl").read_text()
    assert '"inherited_methods"' in transcript and f"elder~{elder_sub['agent']}" in transcript
    headline = after["tasks"]["chat-sample"]  # the best says whether it is new; "best_new" only when it is not
    if headline["best"]["inherited_from"] == "elder":
        assert headline["best_new"] is None or headline["best_new"]["inherited_from"] is None
    else:
        assert headline["best"]["inherited_from"] is None and headline["best_new"] is None
    report = (home / "heir" / "report.html").read_text()
    assert "(inherited from elder)" in report


def test_the_server_child_gets_its_database_url_in_its_environment_not_its_command_line() -> None:
    from aar.campaign.processes import server_command
    from aar.campaign.spec import CampaignSpec

    spec = CampaignSpec(name="c", db="postgresql://aar:s3cret@db/aar", unsafe_sandbox=True, ray_address="h:1")
    cmd = server_command(spec, 8000)
    assert not any("s3cret" in part or "postgresql" in part for part in cmd) and "--db" not in cmd
    assert cmd[cmd.index("--ray-address") + 1] == "h:1" and "--allow-unsandboxed" in cmd
