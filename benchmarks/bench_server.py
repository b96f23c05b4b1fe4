"""Benchmark: evaluate throughput and p50/p99 latency at 1, 8 and 32 concurrent clients, on SQLite and on
PostgreSQL, against a real `aar serve` process over loopback HTTP. Prints numbers; asserts nothing.

Usage: python benchmarks/bench_server.py [--requests 200] [--task chat]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.postgres import postgres_server, start_aar_server

ADMIN = "aar_admin_bench_token_0123456789"


def run(url: str, label: str, task: str, requests: int) -> None:
    from aar.tasks import load_task

    proc, base = start_aar_server(url, ADMIN, wait_s=120)
    try:
        admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=600)
        admin.post("/v1/admin/campaigns", json={"name": "bench", "dev_budget": 100_000})
        preds = {e.id: 0.7 for e in load_task(task).splits["dev"]}
        for clients in (1, 8, 32):
            tokens = [admin.post("/v1/admin/campaigns/bench/agents", json={"name": f"a{clients}-{i}"}).json()["token"]
                      for i in range(clients)]
            agents = [httpx.Client(base_url=base, headers={"Authorization": f"Bearer {t}"}, timeout=600)
                      for t in tokens]
            body = {"task": task, "split": "dev", "predictions": preds}
            agents[0].post("/v1/evaluations", json=body)  # warm the scorer

            def one(i: int, agents=agents, body=body) -> float:
                t0 = time.perf_counter()
                r = agents[i % len(agents)].post("/v1/evaluations", json=body)
                r.raise_for_status()
                return time.perf_counter() - t0

            t0 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=clients) as pool:
                latencies = sorted(pool.map(one, range(requests)))
            wall = time.perf_counter() - t0
            p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
            print(f"{label}: {clients:>2} clients, {requests} evaluations ({len(preds)} predictions each): "
                  f"{requests / wall:6.1f} req/s, p50 {statistics.median(latencies) * 1000:6.1f} ms, "
                  f"p99 {p99 * 1000:6.1f} ms", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--task", default="chat")
    args = parser.parse_args()
    with ExitStack() as stack:
        run(f"sqlite:///{tempfile.mkdtemp(prefix='aar-bench-db-')}/aar.db", "sqlite", args.task, args.requests)
        run(stack.enter_context(postgres_server()), "postgresql", args.task, args.requests)


if __name__ == "__main__":
    main()
