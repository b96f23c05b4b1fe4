"""Researcher agents end to end: the real anthropic and openai SDKs against local fake servers speaking
their wire protocols, and the offline heuristic researcher, each through the real tools, sandbox,
evaluation server (with a verification worker) and ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.helpers.fake_llm import BIG_STEP, USAGE, Script, anthropic_server, openai_server
from tests.helpers.serverkit import ADMIN, TASK, admin, campaign, wait_for

from aar.researchers.client import AgentClient
from aar.researchers.loop import RESET_NOTE, Limits
from aar.researchers.runner import AgentConfig, build
from aar.researchers.tools import ToolContext, call_tool
from aar.researchers.transcript import read
from aar.sandbox import Sandbox


def _new_agent(base: str, name: str) -> str:
    r = admin(base).post(f"/v1/admin/campaigns/{name}/agents", json={"name": name})
    assert r.status_code == 201, r.text
    return r.json()["token"]


def _agent_status(base: str, name: str) -> dict:
    """The admin's view of a campaign's only agent (its counters as the server charged them)."""
    return admin(base).get(f"/v1/admin/campaigns/{name}").json()["agents"][0]


def _config(base: str, name: str, tmp_path: Path, **kw) -> AgentConfig:
    campaign(base, name, verify_seeds=[1], dev_budget=10)
    token = _new_agent(base, name)
    ledger = admin(base).post(f"/v1/admin/campaigns/{name}/agents/{name}/ledger-token").json()["ledger_token"]
    return AgentConfig(server=base, campaign=name, agent=name, token=token,
                       directory=tmp_path / name, direction="unsupervised elicitation", tasks=[TASK],
                       ledger_token=ledger, **kw)


def test_tools_validate_arguments_and_stay_in_the_workspace(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (tmp_path / "secret.txt").write_text("outside")
    (ws / "link").symlink_to(tmp_path / "secret.txt")
    ctx = ToolContext(workspace=ws, notebook=tmp_path / "notebook.md", client=AgentClient("http://127.0.0.1:9", "t"),
                      sandbox=Sandbox(), experiments=None, tasks=["chat"])  # type: ignore[arg-type]
    assert call_tool(ctx, "write_file", {"path": "sub/a.py", "content": "x = 1\n"}) == (
        "wrote 6 characters to sub/a.py", False)
    assert call_tool(ctx, "read_file", {"path": "sub/a.py"}) == ("x = 1\n", False)
    for path in ("../secret.txt", "/etc/passwd", "link"):
        text, is_error = call_tool(ctx, "read_file", {"path": path})
        assert is_error and "outside your workspace" in text and text != "outside"
    assert call_tool(ctx, "nope", {})[1]
    text, is_error = call_tool(ctx, "write_file", {"path": "a.py"})
    assert is_error and "content" in text
    assert call_tool(ctx, "read_file", '{"path": "sub/a.py", "extra": 1}')[1]  # unknown fields refused
    assert "unknown task" in call_tool(ctx, "leaderboard", {"task": "poetry"})[0]
    assert "unreachable" in call_tool(ctx, "leaderboard", {})[0]  # a dead server is an error result, not a crash
    out, is_error = call_tool(ctx, "run_python", {"code": "print('y' * 50_000)"})
    envelope = json.loads(out)  # too long: a valid JSON first page, the whole result in the workspace
    assert not is_error and envelope["result_too_long"] and len(out) < 9000 and envelope["pages"] == 9
    rest, _ = call_tool(ctx, "read_file", envelope["next_page"]["arguments"])
    whole = (ws / envelope["full_result_path"]).read_text()
    assert whole.count("y") == 50_000 and envelope["page_text"] == whole[:6000] and rest.startswith(whole[6000:12_000])
    call_tool(ctx, "notebook_write", {"content": "first"})
    call_tool(ctx, "notebook_write", {"content": "second"})
    notebook = call_tool(ctx, "notebook_read", {})[0]
    assert notebook.index("first") < notebook.index("second")


def _check_run(config: AgentConfig, script: Script, expected_usd_per_call: float, big_call_usd: float) -> None:
    base, name, directory = config.server, config.agent, config.directory
    assert script.step == 8
    status = admin(base).get(f"/v1/admin/campaigns/{name}").json()["agents"][0]
    assert (status["state"], status["stop_reason"], status["llm_calls"]) == ("stopped", "finished", 8)
    assert status["dev_evals_used"] == 1 and status["submissions_used"] == 1 and status["compute_s"] > 0
    assert status["cost_usd"] == pytest.approx(7 * expected_usd_per_call + big_call_usd, rel=1e-6)
    agent = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {config.token}"}, timeout=60)
    posts = agent.get("/v1/forum/posts").json()["posts"]
    assert [(p["author"], p["title"]) for p in posts] == [(name, "sharpened soft labels")]
    sub = agent.get("/v1/submissions").json()["submissions"][0]
    assert wait_for(agent, sub["id"], ("verified", "failed"))["status"] == "verified"
    rows = read(directory / "transcript.jsonl")
    kinds = [r["type"] for r in rows]
    assert kinds.count("assistant") == 8 and kinds.count("tool") == 8 and kinds.count("context_reset") == 1
    assert kinds[0] == "start" and rows[-1] == rows[-1] | {"type": "stop", "reason": "finished"}
    escape = next(r for r in rows if r["type"] == "tool" and r["name"] == "read_file")  # ../../etc/passwd
    assert escape["is_error"] and "outside your workspace" in escape["result"]
    assert "submitted method.py:Mine" in (directory / "notebook.md").read_text()


def test_anthropic_backend_over_the_wire(live_server: str, tmp_path: Path, monkeypatch) -> None:
    script = Script(task=TASK)
    url, fake = anthropic_server(script)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
    config = _config(live_server, "claude", tmp_path, backend="anthropic", model="claude-sonnet-5-5",
                     base_url=url, limits=Limits(context_tokens=50_000))
    try:
        assert build(config).run() == "finished"
    finally:
        fake.should_exit = True
    first, second = script.requests[0], script.requests[1]
    headers = first["headers"]
    assert "sk-ant-test-key" in (headers.get("x-api-key", "") + headers.get("authorization", ""))
    assert "anthropic-version" in headers
    body = first["body"]
    assert body["model"] == "claude-sonnet-5-5" and body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert {t["name"] for t in body["tools"]} >= {"run_experiment", "evaluate", "submit_method", "forum_post"}
    assert "unsupervised elicitation" in body["system"][0]["text"]
    result = second["body"]["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and result["tool_use_id"] == "toolu_01"
    assert script.requests[BIG_STEP]["body"]["messages"][-1]["content"][-1] == {"type": "text", "text": RESET_NOTE}
    after_reset = script.requests[BIG_STEP + 1]["body"]["messages"]
    assert len(after_reset) == 1 and "submitted method.py:Mine" in after_reset[0]["content"]
    rest = USAGE["output"] * 10 + USAGE["cache_read"] * 0.10 + USAGE["cache_write"] * 2.50
    _check_run(config, script, (USAGE["input"] * 2 + rest) / 1e6, (100_000 * 2 + rest) / 1e6)


def test_openai_compatible_backend_over_the_wire(live_server: str, tmp_path: Path) -> None:
    script = Script(task=TASK)
    url, fake = openai_server(script)
    config = _config(live_server, "vllm", tmp_path, backend="openai", model="gpt-4o-mini", base_url=f"{url}/v1",
                     limits=Limits(context_tokens=50_000))
    try:
        assert build(config).run() == "finished"
    finally:
        fake.should_exit = True
    body = script.requests[1]["body"]
    assert body["messages"][0]["role"] == "system" and body["tools"][0]["type"] == "function"
    assert body["messages"][-1] == body["messages"][-1] | {"role": "tool", "tool_call_id": "call_01"}
    assert script.requests[BIG_STEP]["body"]["messages"][-1] == {"role": "user", "content": RESET_NOTE}
    after_reset = script.requests[BIG_STEP + 1]["body"]["messages"]
    assert [m["role"] for m in after_reset] == ["system", "user"]
    rest = USAGE["output"] * 0.60 + USAGE["cache_read"] * 0.075
    _check_run(config, script, (USAGE["input"] * 0.15 + rest) / 1e6, (100_000 * 0.15 + rest) / 1e6)


def test_heuristic_researcher_does_research(live_server: str, tmp_path: Path) -> None:
    """The careful heuristic: vanilla first as its anchor; every other candidate written as a method file,
    run as a server-side experiment and screened on its label-free signals (and for repeating an evaluated
    candidate's decisions) before any dev evaluation; a result post per new best; a verified submission."""
    config = _config(live_server, "heur", tmp_path, dev_evals=3)  # screening makes each evaluation cost more
    started = time.time()
    assert build(config).run() == "finished"
    agent = httpx.Client(base_url=live_server, headers={"Authorization": f"Bearer {config.token}"}, timeout=60)
    status = admin(live_server).get("/v1/admin/campaigns/heur").json()["agents"][0]
    assert 2 <= status["dev_evals_used"] <= 3 and status["submissions_used"] == 1 and status["cost_usd"] == 0
    rows = read(config.directory / "transcript.jsonl")
    calls = [r for r in rows if r["type"] == "tool"]
    experiments = [json.loads(r["result"]) for r in calls if r["name"] == "run_experiment" and not r["is_error"]]
    assert experiments[0]["method"] == "vanilla" and len(experiments) >= 2
    assert all(set(e["signals"]) >= {"seed_agreement", "confident_teacher_agreement", "mean_entropy_bits"}
               and len(e["seeds"]) == 2 for e in experiments)
    assert any(e["method"] == "candidate.py:Candidate" for e in experiments)  # compositions as method files
    # experiments are evaluated by id: each seed scored on its own and averaged, as verification scores
    evaluated = [r["arguments"]["experiment_id"] for r in calls if r["name"] == "evaluate"]
    assert len(evaluated) == len(set(evaluated)) >= 2  # nothing evaluated twice
    assert set(evaluated) <= {e["experiment_id"] for e in experiments}  # only screened experiments
    replies = [json.loads(r["result"]) for r in calls if r["name"] == "evaluate" and not r["is_error"]]
    assert replies and all(reply["seeds"] == 2 and "scored on its own" in reply["rule"] for reply in replies)
    state = json.loads((config.directory / "heuristic_state.json").read_text())
    (task,) = state["tasks"]
    keys = [json.dumps([c["method"], c["components"]], sort_keys=True) for c in task["candidates"]]
    assert len(keys) == len(set(keys)) == len(task["candidates"])  # no candidate run twice
    assert all(c["signals"] for c in task["candidates"] if c["pgr"] is not None)
    assert all(c["pgr"] is None for c in task["candidates"] if c["screen"])  # set aside: never evaluated
    posts = agent.get("/v1/forum/posts").json()["posts"]
    assert all("config:" in p["body"] and "Dev PGR" in p["body"] for p in posts)
    sub = agent.get("/v1/submissions").json()["submissions"][0]
    assert sub["entry"] == f"best_{TASK}.py:Best"
    assert wait_for(agent, sub["id"], ("verified", "failed"))["status"] == "verified"
    assert "vanilla dev PGR" in (config.directory / "notebook.md").read_text()
    assert time.time() - started < 900


def test_budgets_stop_the_loop_cleanly_and_the_cli_shows_them(live_server: str, tmp_path: Path,
                                                               monkeypatch) -> None:
    script = Script(task=TASK)
    url, fake = anthropic_server(script)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
    config = _config(live_server, "spender", tmp_path, backend="anthropic", base_url=url)
    admin(live_server).patch("/v1/admin/campaigns/spender", json={"agent_usd_budget": 0.02})
    try:
        assert build(config).run() == "budget: dollars"  # $0.0079 per call: spent after the third
        assert script.step == 3
        config.directory = tmp_path / "again"
        config.limits = Limits(wall_s=0.0)
        assert build(config).run() == "wall time"
    finally:
        fake.should_exit = True
    status = admin(live_server).get("/v1/admin/campaigns/spender").json()["agents"][0]
    assert (status["state"], status["stop_reason"], status["llm_calls"]) == ("stopped", "wall time", 3)
    env = {**os.environ, "AAR_ADMIN_TOKEN": ADMIN, "COLUMNS": "200"}
    shown = subprocess.run([sys.executable, "-m", "aar.cli", "agent", "status", "--server", live_server,
                            "--campaign", "spender"], env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "spender" in shown.stdout and "wall time" in shown.stdout
    assert f"{status['cost_usd']:.4f}" in shown.stdout
    printed = subprocess.run([sys.executable, "-m", "aar.cli", "agent", "transcript", str(tmp_path / "spender")],
                             env=env, capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0 and printed.stdout.count("assistant") == 3 and "write_file" in printed.stdout
    missing = subprocess.run([sys.executable, "-m", "aar.cli", "agent", "transcript", str(tmp_path / "nope")],
                             env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no transcript" in missing.stderr and "Traceback" not in missing.stderr


def test_the_tools_over_mcp(live_server: str, tmp_path: Path) -> None:
    """The official MCP client drives `aar agent mcp` over stdio: the same tools, confinement and server."""
    import anyio
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    campaign(live_server, "mcp", verify_seeds=[1])
    token = _new_agent(live_server, "mcp")
    home = tmp_path / "researcher-home"  # the researcher's own AAR_HOME: it must end up holding no label
    params = StdioServerParameters(command=sys.executable, args=[
        "-m", "aar.cli", "agent", "mcp", "--server", live_server, "--campaign", "mcp", "--name", "mcp",
        "--dir", str(tmp_path / "mcp"), "--task", TASK], env={"AAR_AGENT_TOKEN": token, "AAR_HOME": str(home),
                                                                 "PATH": os.environ["PATH"]})
    method = ("import numpy as np\nfrom aar.methods.base import Method\n\n\nclass Shout(Method):\n"
              "    name = 'shout'\n\n    def train(self, ctx):\n        print('hello from the method', flush=True)\n"
              "        return ctx.fit((ctx.weak_soft > 0.5).astype(np.float32))\n")

    async def research(s) -> dict:
        """Write a method, run it server-side without waiting and poll it, run a built-in waiting, evaluate,
        submit and wait for verification: timed from the first tool call."""
        started = time.monotonic()
        await s.call_tool("write_file", {"path": "shout.py", "content": method})
        queued = json.loads((await s.call_tool("run_experiment", {"task": TASK, "method": "shout.py:Shout",
                                                                   "seeds": [0, 1], "wait": False})).content[0].text)
        polls = [queued]
        while polls[-1]["status"] not in ("done", "failed"):
            await anyio.sleep(0.5)
            polls.append(json.loads((await s.call_tool("experiment_status", {
                "experiment_id": queued["experiment_id"]})).content[0].text))
        waited = json.loads((await s.call_tool("run_experiment", {"task": TASK, "method": "vanilla", "seeds": [3]}))
                            .content[0].text)
        scored = json.loads((await s.call_tool("evaluate", {"task": TASK, "predictions_path":
                                                            polls[-1]["dev_predictions_path"]})).content[0].text)
        submitted = json.loads((await s.call_tool("submit_method", {"task": TASK, "entry": "shout.py:Shout"}))
                               .content[0].text)
        while True:
            mine = json.loads((await s.call_tool("my_submissions", {})).content[0].text)
            if any(sub["id"] == submitted["id"] and sub["status"] in ("verified", "failed") for sub in
                   (mine if isinstance(mine, list) else mine.get("submissions", []))):
                break
            await anyio.sleep(1)
        seconds = time.monotonic() - started
        later = json.loads((await s.call_tool("status", {})).content[0].text)
        return {"queued": queued, "polls": polls, "waited": waited, "scored": scored, "submitted": submitted,
                "mine": mine, "seconds": seconds, "later": later}

    async def session() -> dict:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
            init = await s.initialize()
            tools = {t.name: t for t in (await s.list_tools()).tools}
            prompts = [p.name for p in (await s.list_prompts()).prompts]
            prompt = await s.get_prompt("brief")
            resources = [str(r.uri) for r in (await s.list_resources()).resources]
            resource = await s.read_resource("aar://brief")
            status = await s.call_tool("status", {})
            wrong_task = await s.call_tool("evaluate", {"task": "math", "predictions_path": "p.json"})
            wrote = await s.call_tool("write_file", {"path": "notes.md", "content": "hello"})
            back = await s.call_tool("read_file", {"path": "notes.md"})
            escape = await s.call_tool("read_file", {"path": "../../etc/passwd"})
            post = await s.call_tool("forum_post", {"title": "via mcp", "body": "b", "kind": "insight"})
            work = await research(s)
            return {"instructions": init.instructions, "tools": tools, "prompts": prompts, "prompt": prompt,
                    "resources": resources, "resource": resource, "status": status, "wrong_task": wrong_task,
                    "wrote": wrote, "back": back, "escape": escape, "post": post, "work": work}

    out = anyio.run(session)
    # the brief: what a client with no system prompt of ours needs, in the instructions, a prompt and a resource
    brief = out["instructions"]
    for needed in (f"`{TASK}`: pairs", "train_unlabel", "vanilla", "class Confident(Method)", "ctx.fit(",
                   "dev evaluations: 50 (50 left)", "submissions: 10 (10 left)", "Never try to obtain labels",
                   "a dev reply is pgr on ", "noise sd ", "costs nothing",
                   # the models and the column layout a method gets, and what it may call
                   "weak (teacher) model `glove-50d`", "strong (student) model `minilm-l6`",
                   "`ctx.strong_x` (384 columns): 0-383 minilm-l6: `first` minus `second`",
                   "`ctx.strong_views['first']` (384 columns)", 'get_encoder("minilm-l6"',
                   "confident_teacher_agreement"):
        assert needed in brief, needed
    assert out["prompts"] == ["brief"] and out["prompt"].messages[0].content.text == brief
    assert out["resources"] == ["aar://brief"] and out["resource"].contents[0].text == brief
    # schemas carry the legal values: the agent's tasks, the post kinds, the built-in methods
    tools = out["tools"]
    assert tools["run_experiment"].input_schema["properties"]["task"]["enum"] == [TASK]
    assert "vanilla" in tools["run_experiment"].input_schema["properties"]["method"]["description"]
    assert tools["forum_post"].input_schema["properties"]["kind"]["enum"] == ["hypothesis", "result", "insight",
                                                                              "error"]
    assert tools["leaderboard"].input_schema["properties"]["task"]["anyOf"][0]["enum"] == [TASK]
    status = json.loads(out["status"].content[0].text)
    assert status["dev_evaluations"] == {"budget": 50, "used": 0, "left": 50} and status["tasks"] == [TASK]
    assert status["submissions"]["left"] == 10 and status["agent"] == "mcp" and status["verification_seeds"] == 1
    assert status["experiments"] == []  # none yet (the research session below starts two)
    rule = status["dev_rules"][TASK]  # the task's fixed noise level, before spending an evaluation
    assert rule["metric"] == "pgr" and 0 < rule["items_scored"] <= rule["dev_items"] and 0 < rule["noise_sd"] < 2
    assert out["wrong_task"].is_error and f"your tasks: {TASK}" in out["wrong_task"].content[0].text
    assert {"run_experiment", "evaluate", "submit_method", "forum_post", "notebook_write"} <= set(tools)
    assert not out["wrote"].is_error and out["back"].content[0].text == "hello"
    assert out["escape"].is_error and "outside your workspace" in out["escape"].content[0].text
    assert json.loads(out["post"].content[0].text)["author"] == "mcp"  # the token's agent, nothing else
    assert (tmp_path / "mcp" / "workspace" / "notes.md").read_text() == "hello"

    # experiments ran on the server: queued, then progress, then the method's own output and dev predictions
    work = out["work"]
    assert work["queued"]["status"] == "queued" and "experiment_id" in work["queued"]
    done = work["polls"][-1]
    assert done["status"] == "done", done
    assert "hello from the method" in done["output"] and done["executed_on"]["sandboxed"] is True
    assert done["seeds"] == [0, 1] and len(done["per_seed_files"]) == 2 and done["compute_s"] > 0
    assert work["waited"]["status"] == "done" and work["waited"]["progress_log"][-1] == "finished"
    assert any("running the method" in step for step in work["waited"]["progress_log"])
    assert "pgr" in work["scored"] and work["scored"]["repeat"] is False
    assert [(e["entry"], e["status"]) for e in work["later"]["experiments"]] == [("vanilla", "done"),
                                                                                ("shout.py:Shout", "done")]
    mine = work["mine"] if isinstance(work["mine"], list) else work["mine"]["submissions"]
    assert [sub["status"] for sub in mine if sub["id"] == work["submitted"]["id"]] == ["verified"]
    print(f"\nscripted MCP session: {work['seconds']:.1f} s from the first tool call to a verified submission")
    # the server charged the compute; the researcher's own home holds no labelled file (no task data at all)
    charged = _agent_status(live_server, "mcp")
    assert charged["compute_s"] > 0 and charged["dev_evals_used"] == 1 and charged["submissions_used"] == 1
    stored = [p for p in home.rglob("*") if p.is_file()] if home.exists() else []
    assert not any(p.suffix in (".jsonl", ".pkl", ".npy") for p in stored), stored
    for path in [*stored, *(tmp_path / "mcp").rglob("*")]:
        if path.is_file() and not path.is_symlink():
            assert b'"label"' not in path.read_bytes(), path

    # `aar agent call`: one tool from a shell, through the same MCP server and the official client
    env = {**os.environ, "AAR_AGENT_TOKEN": token}
    base = [sys.executable, "-m", "aar.cli", "agent", "call", "--server", live_server, "--campaign", "mcp",
            "--name", "mcp", "--dir", str(tmp_path / "mcp"), "--task", TASK]
    listed = subprocess.run([*base, "list_files", "{}"], env=env, capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0 and "notes.md" in listed.stdout, listed.stderr[-2000:]
    refused = subprocess.run([*base, "read_file", '{"path": "../x"}'], env=env, capture_output=True, text=True,
                             timeout=300)
    assert refused.returncode == 1 and "outside your workspace" in refused.stdout
    bad = subprocess.run([*base, "status", "[1]"], env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.startswith("error: arguments must be a JSON object")


def test_transcript_mirror_retries_and_resends_after_restart(tmp_path: Path) -> None:
    """A failed send leaves lines pending (sent with the next line); a new Transcript over the same file
    sends what the server lacks; a line torn by a kill does not corrupt the next one."""
    from aar.researchers.transcript import Transcript, read

    server: dict[int, dict] = {}
    down = {"now": True}

    def mirror(rows: list[dict]) -> int:
        if down["now"]:
            raise ConnectionError("server down")
        server.update({r["seq"]: r for r in rows})
        return max(server)

    path = tmp_path / "t.jsonl"
    t = Transcript(path, mirror=mirror)
    t.write("assistant", text="one")
    t.write("assistant", text="two")
    assert server == {} and [r["seq"] for r in t.pending] == [1, 2]
    down["now"] = False
    t.write("tool", name="evaluate")
    assert sorted(server) == [1, 2, 3] and t.pending == []
    with path.open("a") as f:
        f.write('{"seq": 4, "type": "assist')  # killed mid-line
    restarted = Transcript(path, mirror=mirror, mirrored_seq=2)  # the server said it holds up to 2
    assert [r["seq"] for r in restarted.pending] == [3]
    restarted.write("stop", reason="finished")
    assert [r["seq"] for r in read(path)] == [1, 2, 3, 4] and sorted(server) == [1, 2, 3, 4]
    assert server[4]["type"] == "stop"


def test_the_readme_sequence_creates_a_campaign_adds_an_agent_and_calls_a_tool(live_server: str,
                                                                              tmp_path: Path) -> None:
    """`aar campaign create`, `aar agent add` (token written 0600), `aar agent call` over the official MCP
    client with a direction, and `aar agent list`: the README's Claude Code section, as written."""
    env = {**os.environ, "AAR_ADMIN_TOKEN": ADMIN}

    def aar(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "aar.cli", *args], env=env, capture_output=True, text=True,
                              timeout=300)

    created = aar("campaign", "create", "readme-c1", "--server", live_server, "--dev-budget", "7")
    assert created.returncode == 0, created.stderr
    token_file = tmp_path / "claude.token"
    added = aar("agent", "add", "readme-c1", "claude", "--server", live_server, "--token-file", str(token_file))
    assert added.returncode == 0 and oct(token_file.stat().st_mode & 0o777) == "0o600", added.stderr
    again = aar("agent", "add", "readme-c1", "claude2", "--server", live_server, "--token-file", str(token_file))
    assert again.returncode == 2 and "exists" in again.stderr  # never written over
    called = aar("agent", "call", "status", "{}", "--server", live_server, "--campaign", "readme-c1", "--name",
                 "claude", "--dir", str(tmp_path / "claude"), "--token-file", str(token_file), "--task", TASK,
                 "--direction", "look at where the teacher is wrong")
    assert called.returncode == 0, called.stderr[-2000:]
    status = json.loads(called.stdout)
    assert status["agent"] == "claude" and status["dev_evaluations"]["budget"] == 7
    assert status["llm_usage"].startswith("unmetered")
    listed = aar("agent", "list", "readme-c1", "--server", live_server, "--json")
    assert listed.returncode == 0, listed.stderr
    states = [(a["name"], a["state"]) for a in json.loads(listed.stdout)]
    assert states == [("claude", "active"), ("claude2", "created")]
    no_token = subprocess.run([sys.executable, "-m", "aar.cli", "agent", "list", "readme-c1", "--server", live_server],
                              env={k: v for k, v in env.items() if k != "AAR_ADMIN_TOKEN"}, capture_output=True,
                              text=True, timeout=120)
    assert no_token.returncode == 2 and "AAR_ADMIN_TOKEN" in no_token.stderr
