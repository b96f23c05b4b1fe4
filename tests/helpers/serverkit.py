"""Helpers for tests against a running `aar serve`: admin and agent clients, campaigns, method snapshots."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import httpx

from aar.snapshots import pack
from aar.tasks import load_task

ADMIN = "aar_admin_test_" + "x" * 20
# the task the server tests score and verify on: a 30% sample of chat (tests.helpers.data.import_sample)
TASK = "chat-sample"
DB_URLS: dict[str, str] = {}  # server base URL -> its database URL (admin-side tools use the database)


def admin(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=300)


def campaign(base: str, name: str, **settings) -> None:
    r = admin(base).post("/v1/admin/campaigns", json={"name": name, **settings})
    assert r.status_code == 201, r.text


def agent(base: str, campaign_name: str, name: str) -> httpx.Client:
    r = admin(base).post(f"/v1/admin/campaigns/{campaign_name}/agents", json={"name": name})
    assert r.status_code == 201, r.text
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {r.json()['token']}"}, timeout=300)


def dev_predictions(task: str = TASK, truth: bool = True) -> dict[str, float]:
    return {e.id: float(e.label) if truth else 0.0 for e in load_task(task).splits["dev"]}


def random_predictions(seed: int, task: str = TASK) -> dict[str, float]:
    """Random probabilities over a task's dev ids: a different query for every seed (a repeat of the same
    decisions is answered free and not logged, so tests of budgets and logging need distinct vectors)."""
    import numpy as np

    ids = [e.id for e in load_task(task).splits["dev"]]
    return dict(zip(ids, np.random.default_rng(seed).random(len(ids)).tolist(), strict=True))


def method_archive(directory: Path, source: str, name: str = "method.py") -> str:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(source)
    return base64.b64encode(pack(directory)).decode()


def wait_for(client: httpx.Client, submission_id: int, statuses: tuple[str, ...], timeout_s: float = 600) -> dict:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        view = client.get(f"/v1/submissions/{submission_id}").json()
        if view["status"] in statuses:
            return view
        time.sleep(0.5)
    raise AssertionError(f"submission {submission_id} never reached {statuses}: {view}")
