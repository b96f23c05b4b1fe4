"""Shared fixtures. One AAR_HOME per test session, so real tasks and features are built once."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


PINNED_KEYS = ("task", "seed")  # the installation secrets that deal the built-in tasks and the opaque seeds


@pytest.fixture(scope="session", autouse=True)
def aar_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The suite's AAR_HOME. Its installation keys are fixed, so the suite sees the same testbed draw here and
    in CI (a fresh random key per run made CI a lottery over data draws). ``AAR_TEST_RANDOM_KEYS=1`` draws fresh
    keys instead, to look for tests that hold for one draw only; tests of key-dependent rules check many draws
    themselves."""
    home = tmp_path_factory.mktemp("aar-home")
    os.environ["AAR_HOME"] = str(home)
    if os.environ.get("AAR_TEST_RANDOM_KEYS") != "1":
        secrets = home / "secrets"
        secrets.mkdir(mode=0o700)
        for name in PINNED_KEYS:
            (secrets / f"{name}.key").write_text(hashlib.sha256(f"aar test suite: {name}".encode()).hexdigest())
            (secrets / f"{name}.key").chmod(0o600)
    return home


def write_reference(directory: Path, rows_by_split: dict[str, list[dict]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for split, rows in rows_by_split.items():
        (directory / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return directory


def sentiment_rows(n: int, offset: int = 0) -> list[dict]:
    """Small real-language preference pairs for fast pipeline tests (labels balanced by position)."""
    good = ["a wonderful, moving film", "brilliant acting and a great story", "funny, warm and delightful",
            "an excellent, beautiful movie", "superb direction, loved it", "charming and smart"]
    bad = ["a boring, dreadful mess", "terrible acting and a dull plot", "awful, tedious and painful",
           "a stupid, ugly failure", "bad writing, hated it", "lifeless and dumb"]
    rows = []
    for i in range(offset, offset + n):
        g, b = f"{good[i % len(good)]} number {i}", f"{bad[(i * 5) % len(bad)]} number {i}"
        first_good = i % 2 == 0
        rows.append({"id": f"ex{i}", "prompt": "Which review is positive?", "first": g if first_good else b,
                     "second": b if first_good else g, "label": int(first_good)})
    return rows


@pytest.fixture()
def small_reference(tmp_path: Path) -> Path:
    return write_reference(tmp_path / "ref", {"train_label": sentiment_rows(40), "train_unlabel":
                           sentiment_rows(80, 100), "test": sentiment_rows(60, 300)})


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, aar_home: Path):
    """A real `aar serve` (one verification worker) on SQLite and on a real PostgreSQL, shared by the
    server test modules; yields (base URL, SQLite path or None)."""
    from contextlib import ExitStack

    from tests.postgres import postgres_server, start_aar_server
    from tests.serverkit import ADMIN, DB_URLS

    from aar.server.scoring import DevScorer

    DevScorer().dev_ids("chat")  # fills the shared artifact cache, so the servers' first scores are fast
    with ExitStack() as stack:
        if request.param == "sqlite":
            db = tmp_path_factory.mktemp("server") / "aar.db"
            url = f"sqlite:///{db}"
        else:
            url, db = stack.enter_context(postgres_server()), None
        try:
            proc, base = start_aar_server(url, ADMIN, extra=("--workers", "1", "--lease-s", "4"))
        except RuntimeError as exc:
            pytest.fail(str(exc))
        DB_URLS[base] = url
        yield base, db
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
