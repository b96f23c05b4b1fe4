"""Scale-out on a real local Ray cluster (``ray start --head``): a small campaign whose experiments and
verifications run as Ray tasks, proven by where each job says it ran."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aar.researchers.transcript import read as read_transcript


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    ray = shutil.which("ray", path=str(Path(sys.executable).parent))
    assert ray, "the ray CLI is missing: `make test` installs ray (the [dev] extra)"
    port = _free_port()
    temp = tmp_path_factory.mktemp("ray")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    start = subprocess.run([ray, "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
                            "--disable-usage-stats", f"--temp-dir={temp}", "--node-ip-address=127.0.0.1"],
                           env=env, capture_output=True, text=True, timeout=300)
    assert start.returncode == 0, start.stdout[-2000:] + start.stderr[-2000:]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120)


def test_campaign_experiments_and_verifications_run_on_ray(ray_cluster: str) -> None:
    run = subprocess.run([sys.executable, "-m", "aar.cli", "run", "--name", "on-ray", "--agents", "1", "--task",
                          "chat-sample", "--dev-evals", "2", "--verify-seeds", "1", "--executor", "ray",
                          "--ray-address", ray_cluster, "--transfer-seeds", "1"], capture_output=True, text=True,
                         timeout=1500)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    folder = Path(os.environ["AAR_HOME"]) / "campaigns" / "on-ray"
    result = json.loads((folder / "results.json").read_text())
    assert result["submissions"] and all(s["status"] == "verified" for s in result["submissions"])
    import sqlite3

    with sqlite3.connect(folder / "aar.db") as con:
        places = [json.loads(r)["executed_on"] for (r,) in con.execute("SELECT result FROM submissions")]
        ran = [json.loads(r)["executed_on"] for (r,) in con.execute(  # researchers' experiments, server-side
            "SELECT result FROM experiments WHERE status = 'done'")]
    assert places and all(p["executor"] == "ray" and p["node_id"] for p in places)
    assert ran and all(p["executor"] == "ray" and p["node_id"] for p in ran)
    (agent_dir,) = (folder / "agents").iterdir()
    experiments = [json.loads(row["result"]) for row in read_transcript(agent_dir / "transcript.jsonl")
                   if row["type"] == "tool" and row["name"] == "run_experiment" and not row["is_error"]]
    assert experiments and all(e["executed_on"]["executor"] == "ray" for e in experiments)
    transfer = json.loads((folder / "transfer.json").read_text())  # the gauntlet ran submitted code on Ray too
    sandboxed = [c for c in transfer["cells"] if c["subject"].startswith("submission:")]
    assert sandboxed and all(c["status"] == "ok" for c in sandboxed)
    assert all(c["cached"] or c["executed_on"]["executor"] == "ray" for c in sandboxed)
    assert any(not c["cached"] for c in sandboxed)


def test_ray_executor_refuses_a_wrong_address() -> None:
    bad = subprocess.run([sys.executable, "-m", "aar.cli", "worker", "--executor", "ray", "--ray-address",
                          f"127.0.0.1:{_free_port()}", "--once"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "cannot join the Ray cluster" in bad.stderr
    missing = subprocess.run([sys.executable, "-m", "aar.cli", "serve", "--executor", "ray"], capture_output=True,
                             text=True, timeout=120)
    assert missing.returncode == 2 and "--ray-address" in missing.stderr
