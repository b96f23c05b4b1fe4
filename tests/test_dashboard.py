"""The dashboard in a real headless Chromium against a real `aar serve` (SQLite and PostgreSQL): sign-in,
every page rendered from real campaign data, a screenshot of each, and live updates that fetch only rows
past the page's cursor."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from tests.helpers.browser import ARTIFACTS, browser_page, screenshot
from tests.helpers.methods import BROKEN, TRUSTING
from tests.helpers.serverkit import (
    ADMIN,
    TASK,
    admin,
    agent,
    campaign,
    dev_predictions,
    method_archive,
    random_predictions,
    wait_for,
)

XSS = "<img src=x onerror=\"window.__xss=1\">"


def _events(start: int, count: int, text: str = "thinking") -> list[dict]:
    now = datetime.now(UTC).isoformat()
    return [{"seq": start + i, "time": now, "type": "assistant", "turn": start + i, "text": f"{text} {start + i}",
             "tool_calls": [{"id": "c1", "name": "evaluate", "arguments": {"task": TASK}}],
             "usage": {"input_tokens": 100, "output_tokens": 20}, "cost_usd": 0.001} for i in range(count)]


@pytest.fixture(scope="module")
def populated(server, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A campaign with two agents, evaluations, a forum thread, transcripts and two submissions."""
    base, db = server
    name = "dash-sqlite" if db else "dash-pg"
    campaign(base, name)
    alice, bob = agent(base, name, "alice"), agent(base, name, "bob")
    for truth in (False, True):
        assert alice.post("/v1/evaluations", json={"task": TASK, "split": "dev",
                                                   "predictions": dev_predictions(TASK, truth)}).status_code == 200
    root = alice.post("/v1/forum/posts", json={"title": "Confidence weighting helps on chat", "kind": "result",
                                               "body": "dev PGR 0.41 with temperature 2", "tags": [TASK]}).json()
    bob.post(f"/v1/forum/posts/{root['id']}/replies", json={"body": "reproduced: 0.39"})
    bob.put(f"/v1/forum/posts/{root['id']}/vote", json={"value": 1})
    ledger = admin(base)
    r = ledger.post(f"/v1/admin/campaigns/{name}/agents/alice/transcript",
                    json={"events": [{"seq": 1, "time": datetime.now(UTC).isoformat(), "type": "start",
                                      "system": "You are alice.", "model": "heuristic"},
                                     *_events(2, 3, text=XSS)]})
    assert r.status_code == 200 and r.json()["max_seq"] == 4, r.text
    ledger.post(f"/v1/admin/campaigns/{name}/agents/alice/usage", json={"llm_calls": 3, "input_tokens": 300,
                                                                        "cost_usd": 0.003, "compute_s": 12.5})
    tmp = tmp_path_factory.mktemp("dash")
    good = alice.post("/v1/submissions", json={"task": TASK, "entry": "method.py:Trusting", "params": {},
                                                "archive": method_archive(tmp / "good", TRUSTING)}).json()
    bad = bob.post("/v1/submissions", json={"task": TASK, "entry": "method.py:Broken", "params": {},
                                             "archive": method_archive(tmp / "bad", BROKEN)}).json()
    wait_for(alice, good["id"], ("verified", "failed"))
    wait_for(bob, bad["id"], ("verified", "failed"))
    return {"base": base, "name": name, "alice": alice, "bob": bob, "root": root["id"], "tmp": tmp,
            "tag": "sqlite" if db else "postgresql"}


def test_dashboard_needs_the_admin_token(populated: dict) -> None:
    base, name = populated["base"], populated["name"]
    with httpx.Client(base_url=base, follow_redirects=False) as anon:
        for path in ("/dashboard/", f"/dashboard/c/{name}", f"/dashboard/c/{name}/evaluations.json?after=0",
                     f"/dashboard/c/{name}/agents/alice/transcript.json"):
            r = anon.get(path)
            assert r.status_code == 303 and r.headers["location"] == "/dashboard/login", (path, r.status_code)
        agent_token = populated["alice"].headers["Authorization"].removeprefix("Bearer ")
        assert anon.post("/dashboard/login", data={"token": agent_token}).status_code == 403
        anon.cookies.set("aar_dashboard", "forged", path="/dashboard")
        assert anon.get("/dashboard/").status_code == 303
        anon.cookies.clear()
        signed = anon.post("/dashboard/login", data={"token": ADMIN})
        assert signed.status_code == 303
        cookie = signed.cookies["aar_dashboard"]
        assert ADMIN not in cookie and "httponly" in signed.headers["set-cookie"].lower()
        assert "samesite=strict" in signed.headers["set-cookie"].lower()
        # the session cookie opens the dashboard but is not an API credential
        assert anon.get("/dashboard/").status_code == 200
        assert anon.get("/v1/admin/campaigns", headers={"Authorization": f"Bearer {cookie}"}).status_code == 403
        assert anon.get(f"/dashboard/c/{name}/forum.json?after=-1").status_code == 422
        assert anon.get("/dashboard/c/no-such-campaign").status_code == 404


def _sign_in(page, base: str) -> None:
    page.goto(f"{base}/dashboard/")
    assert page.url.endswith("/dashboard/login")
    page.fill("input[name=token]", "wrong")
    page.click("button[type=submit]")
    assert "not the admin token" in page.inner_text("main")
    page.fill("input[name=token]", ADMIN)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/dashboard/")


def test_every_page_renders_in_chromium(populated: dict) -> None:
    base, name, tag = populated["base"], populated["name"], populated["tag"]
    shots = []
    with browser_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        _sign_in(page, base)
        assert name in page.inner_text("table")
        shots.append(screenshot(page, f"{tag}-campaigns"))

        page.goto(f"{base}/dashboard/c/{name}")
        agents = page.inner_text("#agents")
        status = admin(base).get(f"/v1/admin/campaigns/{name}").json()
        best = next(a["best_dev_pgr"] for a in status["agents"] if a["name"] == "alice")
        assert "alice" in agents and "bob" in agents and f"{best:.2f}" in agents
        assert "Trusting" in page.inner_text("main")  # best verified method on chat
        shots.append(screenshot(page, f"{tag}-campaign"))

        page.click("#agents a:text('alice')")
        page.wait_for_selector("#transcript .event.assistant")
        text = page.inner_text("#transcript")
        assert XSS in text  # shown as text, never parsed as HTML
        assert page.evaluate("window.__xss") is None
        shots.append(screenshot(page, f"{tag}-agent-transcript"))

        page.goto(f"{base}/dashboard/c/{name}/leaderboard")
        board = page.inner_text("#leaderboard")
        assert "Trusting" in board and "verified" in board and "[" in board  # PGR with its CI
        shots.append(screenshot(page, f"{tag}-leaderboard"))

        page.goto(f"{base}/dashboard/c/{name}/forum")
        assert "Confidence weighting helps on chat" in page.inner_text("#posts")
        shots.append(screenshot(page, f"{tag}-forum"))
        page.click("#posts a:text('Confidence weighting helps on chat')")
        page.wait_for_selector(".post.reply")
        assert "reproduced: 0.39" in page.inner_text("main") and "score 1" in page.inner_text("main")
        shots.append(screenshot(page, f"{tag}-thread"))

        page.goto(f"{base}/dashboard/c/{name}/evaluations")
        assert page.locator("#evaluations tr").count() == 2
        shots.append(screenshot(page, f"{tag}-evaluations"))

        page.goto(f"{base}/dashboard/c/{name}/submissions")
        subs = page.inner_text("#submissions")
        assert "verified" in subs and "failed" in subs and "raised ValueError" in subs and "my bug" not in subs
        shots.append(screenshot(page, f"{tag}-submissions"))
        assert not errors, errors
    assert all(p.stat().st_size > 5000 for p in shots)


def _polls(page, path_end: str) -> list[dict]:
    """Record each poll of a fragment endpoint: its cursor and how many rows came back."""
    seen: list[dict] = []

    def on_response(response) -> None:
        url = urlparse(response.url)
        if url.path.endswith(path_end) and response.status == 200:
            seen.append({"after": int(parse_qs(url.query).get("after", ["0"])[0]),
                         "count": json.loads(response.text())["count"]})

    page.on("response", on_response)
    return seen


def test_live_updates_send_only_new_rows(populated: dict) -> None:
    base, name, alice, bob = populated["base"], populated["name"], populated["alice"], populated["bob"]
    with browser_page() as page:
        _sign_in(page, base)

        page.goto(f"{base}/dashboard/c/{name}/forum")
        forum_polls = _polls(page, "/forum.json")
        before = page.locator("#posts tr").count()
        alice.post("/v1/forum/posts", json={"title": "Live post from alice", "kind": "hypothesis", "body": "x",
                                            "tags": []})
        page.wait_for_selector("#posts tr:first-child :text('Live post from alice')")
        assert page.locator("#posts tr").count() == before + 1
        time.sleep(2.5)  # at least one more poll: it must carry the new cursor and bring nothing back
        assert forum_polls and all(p["after"] >= populated["root"] for p in forum_polls)
        assert sum(p["count"] for p in forum_polls) == 1

        page.goto(f"{base}/dashboard/c/{name}/evaluations")
        eval_polls = _polls(page, "/evaluations.json")
        bob.post("/v1/evaluations", json={"task": TASK, "split": "dev", "predictions": random_predictions(11)})
        page.wait_for_function("document.querySelectorAll('#evaluations tr').length === 3")
        assert page.locator("#evaluations tr").first.inner_text().split("\t")[2] == "bob"  # newest on top
        assert sum(p["count"] for p in eval_polls) == 1

        page.goto(f"{base}/dashboard/c/{name}/agents/alice")
        transcript_polls = _polls(page, "/transcript.json")
        admin(base).post(f"/v1/admin/campaigns/{name}/agents/alice/transcript",
                         json={"events": _events(5, 2, text="fresh line")})
        page.wait_for_selector("#transcript :text('fresh line 6')")
        assert page.locator("#transcript .event").count() == 6
        assert all(p["after"] >= 4 for p in transcript_polls) and sum(p["count"] for p in transcript_polls) == 2

        page.goto(f"{base}/dashboard/c/{name}/submissions")
        sub_polls = _polls(page, "/submissions.json")
        queued = alice.post("/v1/submissions", json={
            "task": TASK, "entry": "method.py:Broken", "params": {"x": 1},
            "archive": method_archive(populated["tmp"] / "again", BROKEN)}).json()
        row = f"#submissions tr[data-id='{queued['id']}']"
        page.wait_for_selector(row)
        page.wait_for_selector(f"{row} .badge.failed", timeout=120_000)  # its status moved on the open page
        assert page.locator("#submissions tr").count() == 3
        assert all(p["after"] >= queued["id"] - 1 for p in sub_polls)


def test_transcript_mirror_is_idempotent(populated: dict) -> None:
    base, name = populated["base"], populated["name"]
    ledger = admin(base)
    path = f"/v1/admin/campaigns/{name}/agents/bob/transcript"
    first = ledger.post(path, json={"events": _events(1, 3)}).json()
    again = ledger.post(path, json={"events": _events(2, 3)}).json()  # 2, 3 already stored; 4 is new
    assert (first["stored"], first["max_seq"]) == (3, 3) and (again["stored"], again["max_seq"]) == (1, 4)
    events = ledger.get(path, params={"after": 1}).json()["events"]
    assert [e["seq"] for e in events] == [2, 3, 4] and events[0]["text"] == "thinking 2"
    bad = ledger.post(path, json={"events": [{"seq": 0, "time": "t", "type": "assistant"}]})
    assert bad.status_code == 422
    agent_token = populated["bob"].headers["Authorization"]
    assert httpx.post(f"{base}{path}", json={"events": _events(9, 1)},
                      headers={"Authorization": agent_token}).status_code == 403


def test_screenshots_are_written(populated: dict) -> None:
    shots = sorted(ARTIFACTS.glob(f"{populated['tag']}-*.png"))
    assert len(shots) >= 8, shots
