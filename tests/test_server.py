"""The evaluation server over real HTTP: a real `aar serve` process, a real SQLite database (WAL)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from tests.helpers.postgres import start_aar_server
from tests.helpers.serverkit import (
    ADMIN,
    TASK,
    admin,
    agent,
    campaign,
    dev_predictions,
    method_archive,
    random_predictions,
)

from aar.server.vectors import order_sha256, vector_sha256


def _start_server(url: str) -> tuple[subprocess.Popen, str]:
    try:
        return start_aar_server(url, ADMIN)
    except RuntimeError as exc:
        pytest.fail(str(exc))


_admin, _campaign, _agent, _dev = admin, campaign, agent, dev_predictions


def test_identities_are_enforced(server) -> None:
    base, _ = server
    _campaign(base, "idents")
    agent = _agent(base, "idents", "alice")
    body = {"task": TASK, "split": "dev", "predictions": _dev()}
    assert httpx.post(f"{base}/v1/evaluations", json=body).status_code == 401
    bad = httpx.post(f"{base}/v1/evaluations", json=body, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and "Traceback" not in bad.text
    assert agent.post("/v1/admin/campaigns", json={"name": "mine"}).status_code == 403
    assert httpx.get(f"{base}/v1/me").status_code == 401
    me = agent.get("/v1/me").json()  # its own standing, nobody else's
    assert me["agent"] == "alice" and me["campaign"] == "idents" and me["dev_evaluations"]["left"] == 50
    assert set(me) == {"agent", "campaign", "state", "dev_evaluations", "submissions", "usd", "tokens", "compute_s",
                       "verification_seeds", "policy", "llm_usage"}
    assert me["policy"] == {"allow_zero_shot": True, "allow_text_reading": False}  # the campaign's, by default
    assert agent.post("/v1/evaluations", json=body).status_code == 200
    assert agent.get("/v1/me").json()["dev_evaluations"] == {"budget": 50, "used": 1, "left": 49}
    assert agent.post("/v1/admin/campaigns/idents/agents", json={"name": "eve"}).status_code == 403
    assert _admin(base).post("/v1/admin/campaigns", json={"name": "../etc"}).status_code == 422
    assert _admin(base).post("/v1/admin/campaigns", json={"name": "idents"}).status_code == 409


def test_dev_scores_are_one_coarse_number_and_nothing_else_leaks(server) -> None:
    base, _ = server
    _campaign(base, "scores")
    agent = _agent(base, "scores", "bob")
    r = agent.post("/v1/evaluations", json={"task": TASK, "split": "dev", "predictions": _dev()})
    assert r.status_code == 200, r.text
    out = r.json()
    # one number (no accuracy beside it), the public rule, the task's fixed noise level
    assert set(out) == {"task", "split", "pgr", "rule", "noise_sd", "repeat", "budget_remaining", "seeds"}
    assert out["pgr"] > 1 and out["budget_remaining"] == 49 and "subsample" in out["rule"] and not out["repeat"]
    step = float(out["rule"].rsplit(" ", 1)[1])
    assert step >= 0.05
    assert step / 12**0.5 < out["noise_sd"] < 2 and round(out["noise_sd"], 2) == out["noise_sd"]
    r = agent.post("/v1/evaluations", json={"task": TASK, "split": "dev", "predictions": _dev(truth=False)})
    value = r.json()["pgr"]
    assert abs(value / step - round(value / step)) < 1e-6  # on the reporting grid
    # the same decisions again (other probabilities, same side of 0.5): the first reply, free, not logged
    again = agent.post("/v1/evaluations", json={"task": TASK, "split": "dev",
                                                "predictions": {k: 0.2 + 0.6 * v for k, v in _dev().items()}})
    assert again.json() == {**out, "repeat": True, "budget_remaining": 48}
    assert len(_admin(base).get("/v1/admin/campaigns/scores/evaluations.jsonl").text.splitlines()) == 2
    for split in ("test", "train_unlabel", "train_label"):
        denied = agent.post("/v1/evaluations", json={"task": TASK, "split": split, "predictions": _dev()})
        assert denied.status_code == 403


def test_bad_bodies_are_rejected_without_spending_budget(server) -> None:
    base, _ = server
    _campaign(base, "bodies", dev_budget=1)
    agent = _agent(base, "bodies", "carol")
    preds = _dev()
    first = next(iter(preds))
    cases = [
        {"task": TASK, "split": "dev", "predictions": {**preds, first: 1.5}},
        {"task": TASK, "split": "dev", "predictions": {k: v for k, v in preds.items() if k != first}},
        {"task": TASK, "split": "dev", "predictions": {**preds, "not-an-id": 1.0}},
        {"task": "../../etc/passwd", "split": "dev", "predictions": preds},
        {"task": "nosuchtask", "split": "dev", "predictions": preds},
        {"task": TASK, "split": "dev", "predictions": {}},
    ]
    for body in cases:
        r = agent.post("/v1/evaluations", json=body)
        assert r.status_code == 422, (body["task"], r.status_code, r.text)
        assert "Traceback" not in r.text and "/" not in r.json().get("error", "").replace("../", "")
    nan = agent.post("/v1/evaluations", content=b'{"task":"chat-sample","split":"dev","predictions":{"a":NaN}}',
                     headers={"Content-Type": "application/json"})
    assert nan.status_code == 422
    big = agent.post("/v1/evaluations", content=b"x" * (9 * 1024 * 1024), headers={"Content-Type": "application/json"})
    assert big.status_code == 413
    ok = agent.post("/v1/evaluations", json={"task": TASK, "split": "dev", "predictions": preds})
    assert ok.status_code == 200 and ok.json()["budget_remaining"] == 0


def test_budget_holds_under_concurrency_and_every_call_is_logged(server) -> None:
    base, db = server
    _campaign(base, "budget", dev_budget=5)
    agent = _agent(base, "budget", "dave")
    # full-precision floats in a scrambled id order: the log must give back exactly these; a different
    # vector per call (a repeat of the same decisions would be answered free)
    sent = [dict(reversed(random_predictions(seed).items())) for seed in range(14)]
    agent.post("/v1/evaluations", json={"task": TASK, "split": "dev", "predictions": sent[0]})  # warm the scorer

    def call(i: int) -> int:
        return agent.post("/v1/evaluations", json={"task": TASK, "split": "dev", "predictions": sent[i]}).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(call, range(1, 13)))
    assert codes.count(200) == 4 and codes.count(429) == 8
    refused = agent.post("/v1/evaluations", json={"task": TASK, "split": "dev", "predictions": sent[13]})
    assert "budget of 5 is used up" in refused.json()["error"]
    export = _admin(base).get("/v1/admin/campaigns/budget/evaluations.jsonl")
    rows = [json.loads(line) for line in export.text.splitlines()]
    assert len(rows) == 5 and {r["agent"] for r in rows} == {"dave"}
    order = sorted(sent[0])  # canonical: sorted ids, float64 values, hashed after the order's own hash
    hashes = {vector_sha256(order_sha256(order), np.array([s[i] for i in order], dtype="<f8").tobytes()): s
              for s in sent}
    assert all(r["sha256"] in hashes and r["predictions"] == hashes[r["sha256"]] and r["split"] == "dev"
               for r in rows)
    assert len({r["sha256"] for r in rows}) == 5
    status = _admin(base).get("/v1/admin/campaigns/budget").json()
    assert status["dev_budget"] == 5 and [(a["name"], a["dev_evals_used"], a["submissions_used"], a["state"])
                                          for a in status["agents"]] == [("dave", 5, 0, "created")]
    assert agent.get("/v1/admin/campaigns/budget").status_code == 403
    assert _admin(base).get("/v1/admin/campaigns/nope").status_code == 404
    if db is not None:  # SQLite runs in WAL mode; a logged vector is 8 bytes an item, its order stored once
        assert Path(f"{db}-wal").exists()
        with sqlite3.connect(db) as con:
            stored = con.execute("SELECT LENGTH(e.vector), o.ids FROM evaluations e JOIN item_orders o ON "
                                 "o.sha256 = e.item_order JOIN campaigns c ON c.id = e.campaign_id "
                                 "WHERE c.name = 'budget'").fetchall()
        assert [(size, json.loads(ids)) for size, ids in stored] == [(8 * len(order), order)] * 5



def test_the_campaign_budget_holds_across_agents_under_concurrency(server) -> None:
    """Two agents race for a campaign budget smaller than their own budgets together: exactly the campaign
    budget is spent, neither agent passes its own, and each refusal names the budget that ran out."""
    base, _ = server
    _campaign(base, "shared", dev_budget=5, campaign_dev_budget=7)
    agents = [_agent(base, "shared", name) for name in ("fay", "gus")]
    bodies = [{"task": TASK, "split": "dev", "predictions": random_predictions(seed)} for seed in range(24)]

    def call(i: int) -> httpx.Response:
        return agents[i % 2].post("/v1/evaluations", json=bodies[i])

    with ThreadPoolExecutor(max_workers=16) as pool:
        replies = list(pool.map(call, range(24)))
    assert sum(r.status_code == 200 for r in replies) == 7 and all(r.status_code in (200, 429) for r in replies)
    status = _admin(base).get("/v1/admin/campaigns/shared").json()
    used = {a["name"]: a["dev_evals_used"] for a in status["agents"]}
    assert sum(used.values()) == 7 and max(used.values()) <= 5 and status["totals"]["dev_evals"] == 7
    errors = {r.json()["error"] for r in replies if r.status_code == 429}
    assert "the campaign's dev evaluation budget of 7 is used up" in errors
    assert errors <= {"the campaign's dev evaluation budget of 7 is used up", "dev evaluation budget of 5 is used up"}
    rows = _admin(base).get("/v1/admin/campaigns/shared/evaluations.jsonl").text.splitlines()
    assert len(rows) == 7


def test_migration_0007_keeps_old_logs_readable_and_counts_campaign_evaluations(tmp_path: Path) -> None:
    """A database written before compact vectors: its JSON rows read back unchanged, and the new campaign
    counter starts at the sum of its agents' counters."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    from aar.server.db import MIGRATIONS, make_engine, session_factory, upgrade
    from aar.server.models import Campaign, Evaluation
    from aar.server.vectors import VectorReader

    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "0006")
    old = {"b": 0.25, "a": 0.1 + 0.2}
    engine = create_engine(url)
    with engine.begin() as con:
        con.execute(text("INSERT INTO campaigns (id, name, dev_budget, round_digits, submit_budget, verify_seeds, "
                         "verify_timeout_s, agent_usd_budget, agent_token_budget, agent_compute_s_budget, "
                         "agent_wall_s_budget, campaign_usd_budget, created_at) VALUES "
                         "(1, 'old', 50, 2, 10, '[1]', 60, 5, 5, 5, 5, 50, '2026-01-01')"))
        for agent_id, used in ((1, 3), (2, 4)):
            con.execute(text("INSERT INTO agents (id, campaign_id, name, token_sha256, dev_evals_used, "
                             "submissions_used, state, created_at, llm_calls, input_tokens, output_tokens, "
                             "cached_tokens, cost_usd, compute_s) VALUES (:id, 1, :name, :tok, :used, 0, "
                             "'created', '2026-01-01', 0, 0, 0, 0, 0, 0)"),
                        {"id": agent_id, "name": f"a{agent_id}", "tok": f"{agent_id:064d}", "used": used})
        con.execute(text("INSERT INTO evaluations (agent_id, campaign_id, created_at, task, split, "
                         "predictions_sha256, predictions, accuracy, request_id) VALUES "
                         "(1, 1, '2026-01-01', 'chat', 'dev', 'x', :p, 0.5, 'r')"), {"p": json.dumps(old)})
    engine.dispose()
    upgrade(url)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        assert session.get(Campaign, 1).dev_evals_used == 7
        (row,) = session.query(Evaluation).all()
        assert row.vector is None and VectorReader(session).predictions(row) == old
    engine.dispose()


def test_kill_9_loses_nothing_committed(tmp_path: Path) -> None:
    """SIGKILL the server mid-load, restart on the same database: every answered evaluation is there, and
    the budget counter agrees with the log (both change in one transaction)."""
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    proc, base = _start_server(url)
    _campaign(base, "crash", dev_budget=1000)
    token = _agent(base, "crash", "erin").headers["Authorization"]
    bodies = [{"task": TASK, "split": "dev", "predictions": random_predictions(seed)} for seed in range(601)]

    def call(client: httpx.Client, i: int) -> int:
        try:
            return client.post("/v1/evaluations", json=bodies[i], timeout=30).status_code
        except httpx.HTTPError:
            return 0

    client = httpx.Client(base_url=base, headers={"Authorization": token})
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(call, client, i) for i in range(600)]
        deadline = time.time() + 120
        while sum(f.done() for f in futures) < 20 and time.time() < deadline:
            time.sleep(0.05)  # kill mid-load: after some answers, long before all 600
        proc.kill()  # SIGKILL: no shutdown handlers run
        proc.wait(timeout=10)
        answered = sum(f.result() == 200 for f in futures)
    assert 0 < answered < 600
    proc2, base2 = _start_server(url)
    try:
        rows = _admin(base2).get("/v1/admin/campaigns/crash/evaluations.jsonl").text.splitlines()
        assert len(rows) >= answered  # a request committed just before the kill may lack its answer
        after = httpx.post(f"{base2}/v1/evaluations", json=bodies[600], headers={"Authorization": token}, timeout=60)
        assert after.status_code == 200
        assert after.json()["budget_remaining"] == 1000 - len(rows) - 1
    finally:
        proc2.terminate()
        proc2.wait(timeout=10)


def test_experiments_run_on_the_server_for_their_agent_only(server, tmp_path: Path) -> None:
    """An agent's experiment runs in the server's worker: queued, then done with per-seed dev predictions in
    the public dev order, timings, output and progress; compute is charged to the agent. Bad requests are
    refused before anything is stored; another agent cannot see it; two active experiments per agent at most;
    a spent compute budget refuses new ones."""
    base, _ = server
    _campaign(base, "lab")
    mine, other = _agent(base, "lab", "ivy"), _agent(base, "lab", "jon")
    bad = [({"task": TASK, "entry": "vanilla", "seeds": [0, 0]}, "distinct"),
           ({"task": TASK, "entry": "vanilla", "seeds": [10_000]}, "less than"),
           ({"task": TASK, "entry": "vanilla", "seeds": []}, "at least 1"),
           ({"task": TASK, "entry": "no_such_method", "seeds": [0]}, "unknown method"),
           ({"task": TASK, "entry": "m.py:M", "seeds": [0]}, "send the code"),
           ({"task": TASK, "entry": "vanilla", "seeds": [0], "archive": method_archive(tmp_path / "a", "x = 1")},
            "takes no archive"),
           ({"task": TASK, "entry": "m.py:M", "seeds": [0], "archive": method_archive(tmp_path / "b", "x = 1")},
            "m.py"),
           ({"task": "nosuchtask", "entry": "vanilla", "seeds": [0]}, "unknown task"),
           ({"task": TASK, "entry": "vanilla", "seeds": [0], "workdir": "/etc"}, "workdir")]
    for body, why in bad:
        r = mine.post("/v1/experiments", json=body)
        assert r.status_code == 422 and why in r.text, (body, r.text)
    started = mine.post("/v1/experiments", json={"task": TASK, "entry": "vanilla", "seeds": [2, 1]})
    assert started.status_code == 202, started.text
    exp = started.json()
    assert exp["status"] == "queued" and exp["seeds"] == [1, 2] and exp["queued_ahead"] >= 0
    assert other.get(f"/v1/experiments/{exp['id']}").status_code == 404  # not theirs: does not exist for them
    assert other.get("/v1/experiments").json() == {"experiments": []}
    listed = mine.get("/v1/experiments").json()["experiments"]
    assert [(e["id"], e["entry"], e["seeds"]) for e in listed] == [(exp["id"], "vanilla", [1, 2])]
    second = mine.post("/v1/experiments", json={"task": TASK, "entry": "soft", "seeds": [0]})
    third = mine.post("/v1/experiments", json={"task": TASK, "entry": "soft", "seeds": [1]})
    assert second.status_code == 202 and third.status_code == 429 and "at most 2" in third.text
    assert (exp["id"], second.json()["id"]) == (1, 2)  # numbered per agent: the agent's own count
    deadline, view = time.time() + 600, exp
    while view["status"] not in ("done", "failed") and time.time() < deadline:
        time.sleep(0.5)
        view = mine.get(f"/v1/experiments/{exp['id']}").json()
    assert view["status"] == "done", view
    dev_ids = list(_dev())  # the public dev order
    result = view["result"]
    assert result["dev_ids"] == dev_ids and sorted(result["per_seed"]) == ["1", "2"]
    assert all(len(p) == len(dev_ids) and all(0 <= x <= 1 for x in p) for p in result["per_seed"].values())
    assert result["seconds"]["run"] > 0 and result["executed_on"]["sandboxed"] is True
    assert view["progress"] == "finished" and view["compute_s"] > 0 and view["error"] is None
    assert "label" not in json.dumps(result).replace("dev_ids", "")
    assert mine.get("/v1/me").json()["compute_s"]["used"] >= round(view["compute_s"], 1)
    again = mine.post("/v1/experiments", json={"task": TASK, "entry": "vanilla", "seeds": [1, 2]})
    assert again.status_code == 200 and again.json()["id"] == exp["id"] and again.json()["reused"] is True
    assert again.json()["result"] == result  # the same experiment again: its result, not run or charged twice
    _campaign(base, "broke", agent_compute_s_budget=0)
    broke = _agent(base, "broke", "kim")
    refused = broke.post("/v1/experiments", json={"task": TASK, "entry": "vanilla", "seeds": [0]})
    assert refused.status_code == 429 and "compute budget" in refused.text

    # scored like verification: each seed on its own, then averaged; the log keeps the per-seed mean accuracy,
    # not the seed ensemble's
    scored = mine.post("/v1/evaluations", json={"task": TASK, "split": "dev", "experiment_id": exp["id"]})
    assert scored.status_code == 200, scored.text
    out = scored.json()
    assert out["seeds"] == 2 and "each of 2 seeds scored on its own" in out["rule"] and not out["repeat"]
    labels = np.array([v for _, v in sorted(_dev().items())]) > 0.5
    order = np.argsort(dev_ids)
    per_seed = np.array([result["per_seed"][s] for s in ("1", "2")])[:, order] > 0.5
    logged = [json.loads(line) for line in _admin(base).get("/v1/admin/campaigns/lab/evaluations.jsonl").text
              .splitlines()][-1]
    assert abs(logged["accuracy"] - float((per_seed == labels).mean())) < 1e-9
    assert mine.post("/v1/evaluations", json={"task": TASK, "split": "dev",
                                                "experiment_id": exp["id"]}).json()["repeat"] is True
    for who, body, code in ((other, {"experiment_id": exp["id"]}, 404),
                            (mine, {"experiment_id": exp["id"], "predictions": {"x": 0.5}}, 422),
                            (mine, {}, 422)):
        r = who.post("/v1/evaluations", json={"task": TASK, "split": "dev", **body})
        assert r.status_code == code, (body, r.text)
    theirs = other.post("/v1/experiments", json={"task": TASK, "entry": "soft", "seeds": [3]}).json()
    assert theirs["id"] == 1 and other.get("/v1/experiments/1").json()["entry"] == "soft"  # their own first one
    assert mine.get("/v1/experiments/1").json()["entry"] == "vanilla"


def test_migrations_build_exactly_the_models(tmp_path: Path) -> None:
    """A database built by the migrations has every table, column and index the models declare and nothing
    else (the forum's full-text tables aside, which only the migration creates): a model change without its
    migration, or a migration without its model, goes red."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from aar.server.db import upgrade
    from aar.server.models import Base

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as con:
        diffs = compare_metadata(MigrationContext.configure(con), Base.metadata)
    engine.dispose()
    unexplained = [d for d in diffs if not (d[0] == "remove_table" and d[1].name.startswith("posts_fts"))]
    assert unexplained == [] and len(diffs) == 5, diffs


def test_jobs_of_a_dead_local_worker_are_requeued_without_waiting_out_the_lease(tmp_path: Path) -> None:
    """After a kill -9, a resumed campaign's workers give back the jobs of dead workers on this host at once
    (experiments and submissions); a job whose worker is alive, or on another host, keeps its lease."""
    import socket
    from datetime import timedelta

    from aar.server.db import make_engine, session_factory, upgrade
    from aar.server.experiment_jobs import ExperimentJobs
    from aar.server.models import Agent, Campaign, Experiment, Snapshot, Submission, utcnow
    from aar.server.worker import Worker

    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    upgrade(url)
    sessions = session_factory(make_engine(url))
    gone = subprocess.Popen(["true"])
    gone.wait()
    host = socket.gethostname()[:40]
    owners = {"dead": f"{host}:{gone.pid}", "alive": f"{host}:{os.getppid()}", "remote": f"elsewhere:{gone.pid}"}
    with sessions() as s:
        campaign_row = Campaign(name="jobs")
        s.add(campaign_row)
        s.flush()
        agent_row = Agent(campaign_id=campaign_row.id, name="a", token_sha256="0" * 64)
        s.add_all([agent_row, Snapshot(sha256="f" * 64, size=1, data=b"x")])
        s.flush()
        lease = utcnow() + timedelta(hours=1)
        for number, (who, worker) in enumerate(owners.items(), start=1):
            s.add(Experiment(campaign_id=campaign_row.id, agent_id=agent_row.id, number=number, task=who,
                             entry="vanilla",
                             params={}, seeds=[0], status="running", attempts=1, compute_s=0.0, worker=worker,
                             lease_until=lease))
            s.add(Submission(campaign_id=campaign_row.id, agent_id=agent_row.id, task=who, entry="m.py:M",
                             params={}, snapshot_sha256="f" * 64, seeds=[1], status="running", attempts=1,
                             worker=worker, lease_until=lease))
        s.commit()
    assert ExperimentJobs(sessions, "me:1", 30, None).requeue_expired() == 1  # type: ignore[arg-type]
    assert Worker(sessions).submissions.requeue_expired() == 1
    with sessions() as s:
        for model in (Experiment, Submission):
            states = {row.task: row.status for row in s.query(model)}
            assert states == {"dead": "queued", "alive": "running", "remote": "running"}, (model, states)


def test_an_external_agents_state_follows_its_requests_and_its_llm_usage_says_unmetered(server) -> None:
    """An MCP client reports no state and no usage: its first request makes it ``active``, and ``/v1/me`` says
    its dollars and tokens are unmetered instead of reading a silent 0; once a runner reports usage, metered."""
    base, _ = server
    _campaign(base, "external")
    ext = _agent(base, "external", "ext")
    view = _admin(base).get("/v1/admin/campaigns/external").json()["agents"][0]
    assert view["state"] == "created" and view["last_seen"] is None
    me = ext.get("/v1/me").json()
    assert me["state"] == "active" and me["llm_usage"].startswith("unmetered")
    view = _admin(base).get("/v1/admin/campaigns/external").json()["agents"][0]
    assert view["state"] == "active" and view["last_seen"] is not None
    assert _admin(base).post("/v1/admin/campaigns/external/agents/ext/usage", json={"llm_calls": 1}).status_code == 200
    assert ext.get("/v1/me").json()["llm_usage"].startswith("metered")
