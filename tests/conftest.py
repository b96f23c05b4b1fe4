"""Shared fixtures. One AAR_HOME per test run (shared by pytest-xdist's workers), so real tasks and features are
built once: the first worker to need a task or a feature matrix builds it under a file lock, the others wait
and read it."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from tests.helpers.data import import_sample, sentiment_rows, write_reference

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


PINNED_KEYS = ("task", "seed")  # the installation secrets that deal the built-in tasks and the opaque seeds

# Modules that take longest, longest first (measured with pytest-xdist, two workers, one thread each). Under
# `--dist loadscope --no-loadscope-reorder` a worker takes whole modules in collection order, so starting with
# the long ones lets the short ones fill the gaps at the end (longest-processing-time-first scheduling); the
# default order put the 50-second Ray module last and left one worker idle for a minute.
LONGEST_FIRST = ("test_campaign", "test_integrity", "test_attribution", "test_trust_boundary", "test_researchers",
                 "test_server", "test_submissions", "test_ray", "test_dashboard", "test_transfer", "test_hf_lm",
                 "test_server_load", "test_gpu_benchmark", "test_cli", "test_forum")


# The integration tier: modules that start servers, campaigns, researchers, sandboxed runs on real testbeds or
# browsers. Their tests, and any test using a server fixture, are marked ``slow``; `make test-fast` runs the rest
# (pure units and contract tests: no campaign, no PostgreSQL) and `make test` runs everything.
INTEGRATION = {"test_campaign", "test_integrity", "test_attribution", "test_trust_boundary", "test_trust_boundary_v2",
               "test_researchers", "test_server", "test_submissions", "test_ray", "test_dashboard", "test_transfer",
               "test_hf_lm", "test_server_load", "test_gpu_benchmark", "test_cli", "test_mcp_session",
               "test_real_tasks", "test_layout", "test_pipeline", "test_forum", "test_sandbox", "test_docs"}
SERVER_FIXTURES = {"server", "live_server"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: within a module, file order
    for item in items:
        if item.path.stem in INTEGRATION or SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def aar_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The suite's AAR_HOME. Its installation keys are fixed, so the suite sees the same testbed draw here and
    in CI (a fresh random key per run made CI a lottery over data draws). ``AAR_TEST_RANDOM_KEYS=1`` draws fresh
    keys instead, to look for tests that hold for one draw only; tests of key-dependent rules check many draws
    themselves."""
    from aar.fsio import exclusive, write_text_atomic

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # xdist: one folder above the workers'
    home = root / "aar-home"
    os.environ["AAR_HOME"] = str(home)
    with exclusive(root / "aar-home.lock"):
        home.mkdir(exist_ok=True)
        secrets = home / "secrets"
        if os.environ.get("AAR_TEST_RANDOM_KEYS") != "1" and not secrets.exists():
            secrets.mkdir(mode=0o700)
            for name in PINNED_KEYS:
                write_text_atomic(secrets / f"{name}.key", hashlib.sha256(f"aar test suite: {name}".encode())
                                  .hexdigest())
                (secrets / f"{name}.key").chmod(0o600)
    return home


@pytest.fixture(scope="session", autouse=True)
def task_samples(aar_home: Path, request: pytest.FixtureRequest) -> None:
    """The thinned tasks the mechanics tests use (see ``tests.helpers.data.import_sample``), imported up
    front, so subprocesses (`aar run --task chat-sample`, the server) find them too. The fast tier (no test
    marked slow selected) needs none of them and skips the build."""
    if not any(item.get_closest_marker("slow") for item in request.session.items):
        return
    import_sample("code")
    import_sample("chat")


@pytest.fixture()
def small_reference(tmp_path: Path) -> Path:
    return write_reference(tmp_path / "ref", {"train_label": sentiment_rows(40), "train_unlabel":
                           sentiment_rows(80, 100), "test": sentiment_rows(60, 300)})


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, aar_home: Path):
    """A real `aar serve` (two verification workers) on SQLite and on a real PostgreSQL, shared by the
    server test modules; yields (base URL, SQLite path or None)."""
    from contextlib import ExitStack

    from tests.helpers.postgres import postgres_server, start_aar_server
    from tests.helpers.serverkit import ADMIN, DB_URLS, TASK

    from aar.server.scoring import DevScorer

    DevScorer().dev_ids(TASK)  # fills the shared artifact cache, so the servers' first scores are fast
    with ExitStack() as stack:
        if request.param == "sqlite":
            db = tmp_path_factory.mktemp("server") / "aar.db"
            url = f"sqlite:///{db}"
        else:
            url, db = stack.enter_context(postgres_server()), None
        try:
            # two workers: the planted-cheater matrix verifies a dozen submissions, and on two cores two
            # worker processes (one thread each) finished test_integrity in 262 s against 294 s with one
            proc, base = start_aar_server(url, ADMIN, extra=("--workers", "2", "--lease-s", "4"))
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


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, aar_home: Path):
    """A real `aar serve` on SQLite with one worker, for researchers and their tools (experiments run in its
    worker); yields its base URL."""
    from tests.helpers.postgres import start_aar_server
    from tests.helpers.serverkit import ADMIN, TASK

    from aar.server.scoring import DevScorer

    DevScorer().dev_ids(TASK)
    url = f"sqlite:///{tmp_path_factory.mktemp('agents') / 'aar.db'}"
    proc, base = start_aar_server(url, ADMIN, extra=("--workers", "1", "--lease-s", "10"))
    yield base
    proc.terminate()
    proc.wait(timeout=30)
