"""32 concurrent agents evaluate, post and vote against a real server (SQLite and PostgreSQL); afterwards every
write is in the database exactly once and every vote count is exact.

The suite runs it for ``AAR_LOAD_TEST_S`` seconds (10 by default: thousands of requests, enough to interleave
every kind of write); ``benchmarks/bench_server.py`` keeps the long, measured run."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tests.helpers.serverkit import TASK, admin, agent, campaign, dev_predictions

AGENTS = 32
DURATION_S = float(os.environ.get("AAR_LOAD_TEST_S", "10"))


def test_32_agents_under_load_lose_and_duplicate_nothing(server) -> None:
    base, _ = server
    campaign(base, "load", dev_budget=100_000)
    clients = [agent(base, "load", f"agent{i:02d}") for i in range(AGENTS)]
    ids = list(dev_predictions())
    posts: list[tuple[int, int]] = []  # (post id, author index), shared by all agents
    posts_lock = threading.Lock()
    deadline = time.monotonic() + DURATION_S

    def run(i: int) -> dict:
        rng, client, vectors = random.Random(i), clients[i], np.random.default_rng(i)
        evals, mine, votes, failures = 0, [], {}, []
        while time.monotonic() < deadline:
            action = rng.choice(("evaluate", "post", "vote"))
            if action == "evaluate":
                # a fresh vector each time: a repeat of the same decisions is answered free and not logged
                predictions = dict(zip(ids, vectors.random(len(ids)).tolist(), strict=True))
                r = client.post("/v1/evaluations", json={"task": TASK, "split": "dev", "predictions": predictions})
                evals += r.status_code == 200 and not r.json()["repeat"]
            elif action == "post":
                r = client.post("/v1/forum/posts", json={"title": f"finding {i}-{len(mine)}", "kind": "result",
                                                         "body": f"agent {i} measured {rng.random():.3f}"})
                if r.status_code == 201:
                    mine.append(r.json()["id"])
                    with posts_lock:
                        posts.append((r.json()["id"], i))
            else:
                with posts_lock:
                    others = [p for p, author in posts if author != i]
                if not others:
                    continue
                post_id, value = rng.choice(others), rng.choice((-1, 1, 1, 0))
                r = client.put(f"/v1/forum/posts/{post_id}/vote", json={"value": value})
                if r.status_code == 200:
                    votes[post_id] = value  # this agent's requests are sequential: the last one stands
            if r.status_code >= 300:
                failures.append((action, r.status_code, r.text[:200]))
        return {"evals": evals, "posts": mine, "votes": votes, "failures": failures}

    with ThreadPoolExecutor(max_workers=AGENTS) as pool:
        results = list(pool.map(run, range(AGENTS)))

    assert [f for r in results for f in r["failures"]] == []
    total_evals = sum(r["evals"] for r in results)
    total_posts = sum(len(r["posts"]) for r in results)
    total_votes = sum(len(r["votes"]) for r in results)
    assert total_evals > 100 and total_posts > 100 and total_votes > 100  # the load was real
    print(f"\n{AGENTS} agents x {DURATION_S:.0f} s: {total_evals} evaluations, {total_posts} posts, "
          f"{total_votes} votes")

    status = admin(base).get("/v1/admin/campaigns/load").json()
    assert {a["name"]: a["dev_evals_used"] for a in status["agents"]} == {
        f"agent{i:02d}": r["evals"] for i, r in enumerate(results)}
    log = admin(base).get("/v1/admin/campaigns/load/evaluations.jsonl").text.splitlines()
    assert len(log) == total_evals

    seen, since = [], 0
    while True:
        page = clients[0].get("/v1/forum/posts", params={"since": since, "limit": 200}).json()
        seen += page["posts"]
        since = page["next_since"]
        if not page["more"]:
            break
    assert sorted(p["id"] for p in seen) == sorted(pid for r in results for pid in r["posts"])
    assert len({p["id"] for p in seen}) == len(seen)
    expected = defaultdict(Counter)
    for r in results:
        for post_id, value in r["votes"].items():
            if value:
                expected[post_id]["up" if value > 0 else "down"] += 1
    for p in seen:
        assert (p["up"], p["down"]) == (expected[p["id"]]["up"], expected[p["id"]]["down"]), p["id"]
    authors = {pid: f"agent{i:02d}" for i, r in enumerate(results) for pid in r["posts"]}
    assert all(p["author"] == authors[p["id"]] for p in seen)
