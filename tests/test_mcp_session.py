"""The acceptance session of issue 31: an LLM researcher's session over MCP (the official client driving
`aar agent mcp` over stdio), scripted to walk into every friction three LLM researchers hit, set up with the
admin CLI exactly as the README's Claude Code section does, in a campaign that continues an earlier one.

Frictions and what the session checks now:
1. dev files were silent seed ensembles: evaluating by experiment scores each seed as verification does, and
   the reply agrees with the verified dev PGR within the noise it states;
2. the brief left out the models and the feature layout; the direction was "(open)";
3. long results were cut inside a JSON value: a 6,000+ character thread reads as valid JSON, whole;
4. the forum read awkwardly: a reply's thread comes with the id asked for, replies carry titles;
5. built-ins and recipe compositions needed a wrapper file: a recipe composition is submitted by name;
6. experiment ids were global: the agent's are 1, 2, ...; its state follows its activity; usage says
   "unmetered";
7. campaign creation needed curl: `aar campaign create` + `aar agent add` (+ `--continue-from`);
8. small untruths: ranks run within a task; a control character cannot break a reader's JSON;
9. (campaigns that build on earlier ones) the earlier campaign's method is there to run and beat.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers.serverkit import ADMIN, TASK, admin, agent

RECIPE = {"temperature": 1.0, "keep": 0.6}


def _aar(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aar.cli", *args], env={**os.environ, "AAR_ADMIN_TOKEN": ADMIN},
                          capture_output=True, text=True, timeout=300)


def _verified(client, sub_id: int) -> dict:
    deadline = time.time() + 900
    while time.time() < deadline:
        view = client.get(f"/v1/submissions/{sub_id}").json()
        if view["status"] in ("verified", "failed", "quarantined"):
            return view
        time.sleep(1)
    raise AssertionError(f"submission {sub_id} not verified in time")


def test_a_scripted_llm_session_over_mcp_meets_none_of_the_old_frictions(live_server: str, tmp_path: Path) -> None:
    import anyio
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    # the earlier campaign: one researcher's verified soft baseline and a forum thread
    assert _aar("campaign", "create", "acc-old", "--server", live_server, "--verify-seeds", "1").returncode == 0
    old = agent(live_server, "acc-old", "old")
    earlier = old.post("/v1/submissions", json={"task": TASK, "entry": "soft"})
    assert earlier.status_code == 202, earlier.text
    assert _verified(old, earlier.json()["id"])["status"] == "verified"
    assert old.post("/v1/forum/posts", json={"title": "soft labels", "body": "soft beat vanilla on dev",
                                             "kind": "result"}).status_code == 201

    # friction 7: the admin side from the CLI, continuing the earlier campaign
    created = _aar("campaign", "create", "acc", "--server", live_server, "--verify-seeds", "1", "--continue-from",
                   "acc-old", "--json")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["inherited"] == {"source": "acc-old", "methods": 1, "posts": 1,
                                                      "methods_left_out": 0}
    token_file = tmp_path / "ivy.token"
    assert _aar("agent", "add", "acc", "ivy", "--server", live_server, "--token-file", str(token_file)).returncode == 0
    assert _aar("agent", "add", "acc", "max", "--server", live_server, "--token-file",
                str(tmp_path / "max.token")).returncode == 0
    params = StdioServerParameters(command=sys.executable, args=[
        "-m", "aar.cli", "agent", "mcp", "--server", live_server, "--campaign", "acc", "--name", "ivy",
        "--dir", str(tmp_path / "ivy"), "--token-file", str(token_file), "--task", TASK,
        "--direction", "find where the teacher is confidently wrong"],
        env={"AAR_HOME": str(tmp_path / "home"), "PATH": os.environ["PATH"]})
    long_root, long_reply = "Observation. " * 240, "Follow-up with numbers 0.41 and 0.44. " * 95

    async def call(s, tool: str, arguments: dict) -> tuple[str, bool]:
        result = await s.call_tool(tool, arguments)
        return result.content[0].text, bool(result.is_error)

    async def session() -> dict:
        out: dict = {}
        async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
            out["brief"] = (await s.initialize()).instructions
            out["inherited"] = json.loads((await call(s, "inherited_methods", {}))[0])
            inherited_id = out["inherited"]["methods"][0]["id"]
            out["run_inherited"] = json.loads((await call(s, "run_experiment", {
                "task": TASK, "method": f"inherited:{inherited_id}", "seeds": [0, 1, 2]}))[0])
            out["run_recipe"] = json.loads((await call(s, "run_experiment", {
                "task": TASK, "method": "recipe", "params": RECIPE, "seeds": [0, 1, 2]}))[0])
            out["first_again"] = json.loads((await call(s, "experiment_status", {"experiment_id": 1}))[0])
            out["scored"] = json.loads((await call(s, "evaluate", {
                "task": TASK, "experiment_id": out["run_recipe"]["experiment_id"]}))[0])
            out["submitted"] = json.loads((await call(s, "submit_method", {"task": TASK, "entry": "recipe",
                                                                           "params": RECIPE}))[0])
            out["root"] = json.loads((await call(s, "forum_post", {"title": "where the teacher errs",
                                                                   "body": long_root, "kind": "insight"}))[0])
            out["control"] = await call(s, "forum_post", {"title": "bell", "body": "ring \x07 ring", "kind": "insight"})
            other = agent_client(tmp_path / "max.token")
            reply = other.post(f"/v1/forum/posts/{out['root']['id']}/replies", json={"body": long_reply})
            assert reply.status_code == 201, reply.text
            out["thread_text"], _ = await call(s, "forum_read", {"post_id": reply.json()["id"]})
            out["reply_id"] = reply.json()["id"]
            envelope = json.loads(out["thread_text"])
            if envelope.get("result_too_long"):  # paged: the whole result is in the workspace, read on by offset
                pages, offset = [envelope["page_text"]], len(envelope["page_text"])
                while offset < envelope["characters"]:
                    text, _ = await call(s, "read_file", {"path": envelope["full_result_path"], "offset": offset,
                                                          "max_chars": 6000})
                    pages.append(text)
                    offset += len(text)
                out["thread"] = json.loads("".join(pages))
            else:
                out["thread"] = envelope
            while True:
                mine = json.loads((await call(s, "my_submissions", {}))[0])
                rows = mine if isinstance(mine, list) else mine["submissions"]
                if all(r["status"] in ("verified", "failed", "quarantined") for r in rows):
                    break
                await anyio.sleep(1)
            out["mine"] = rows
            out["board"] = json.loads((await call(s, "leaderboard", {"task": TASK}))[0])
            out["status"] = json.loads((await call(s, "status", {}))[0])
        return out

    def agent_client(path: Path):
        import httpx

        return httpx.Client(base_url=live_server, headers={"Authorization": f"Bearer {path.read_text().strip()}"},
                            timeout=300)

    out = anyio.run(session)
    # 2: the direction and the models / layout are in the brief
    assert "find where the teacher is confidently wrong" in out["brief"] and "(open" not in out["brief"]
    assert "`ctx.strong_x` (384 columns)" in out["brief"] and "strong (student) model `minilm-l6`" in out["brief"]
    # 9: the earlier campaign's method is there, with its code, and runs by name
    (method,) = out["inherited"]["methods"]
    assert method["inherited"]["campaign"] == "acc-old" and method["agent"] == "acc-old~old"
    assert any(p.endswith(".py") for p in method["code_in_workspace"])
    assert (tmp_path / "ivy" / "workspace" / method["code_in_workspace"][0]).exists()
    assert out["run_inherited"]["status"] == "done" and out["run_inherited"]["method"] == method["entry"]
    # 6: the agent's own experiment numbers
    assert (out["run_inherited"]["experiment_id"], out["run_recipe"]["experiment_id"]) == (1, 2)
    assert out["first_again"]["experiment_id"] == 1 and out["first_again"]["status"] == "done"
    # 1: scored per seed like verification, and within the stated noise of the verified dev PGR
    scored = out["scored"]
    assert scored["seeds"] == 3 and "each of 3 seeds scored on its own" in scored["rule"]
    (mine,) = [r for r in out["mine"] if r["id"] == out["submitted"]["id"]]
    assert mine["status"] == "verified" and mine["entry"] == "builtin_recipe.py:Builtin" and mine["params"] == RECIPE
    gap = abs(scored["pgr"] - mine["dev_pgr"]["mean"])
    assert gap <= 3 * scored["noise_sd"], (scored, mine["dev_pgr"])
    print(f"\nacceptance session: dev reply {scored['pgr']:.3f} vs verified dev PGR {mine['dev_pgr']['mean']:.3f} "
          f"(gap {gap:.3f}, noise sd {scored['noise_sd']:.3f}); verified test PGR {mine['pgr']['mean']:.3f}")
    # 3 + 4: the long thread reads as valid JSON and whole, asked for by its reply
    thread = out["thread"]
    assert len(long_root) + len(long_reply) > 6000
    assert thread["requested_post_id"] == out["reply_id"] and thread["thread_root_id"] == out["root"]["id"]
    assert thread["post"]["body"] == long_root and thread["replies"][0]["body"] == long_reply
    assert thread["replies"][0]["title"] == "Re: where the teacher errs"
    # 8: a control character is refused with a reason, not stored to break a reader's JSON
    text, is_error = out["control"]
    assert is_error and "control characters" in text
    board = out["board"]["entries"] if isinstance(out["board"], dict) else out["board"]
    assert sorted(r["rank"] for r in board if r["status"] == "verified") == [1, 2]  # within the task
    assert [bool(r["inherited"]) for r in board].count(True) == 1
    # 6: state and usage
    assert out["status"]["llm_usage"].startswith("unmetered")
    states = {a["name"]: a["state"] for a in admin(live_server).get("/v1/admin/campaigns/acc").json()["agents"]}
    assert states["ivy"] == "active" and states["acc-old~old"] == "inherited"
