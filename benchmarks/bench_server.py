"""Benchmark: dev-evaluation throughput and latency of a real `aar serve` at 1, 8 and 32 concurrent clients,
next to the ceiling of the same server and machine (the empty ``/healthz`` endpoint under the same load),
on SQLite and PostgreSQL. Prints numbers; asserts nothing.

The load comes from a lean asyncio HTTP/1.1 client (one keep-alive connection per client, requests
pre-encoded), so that on a 2-core machine the client takes as little CPU from the server as possible.
Reps of the healthz and evaluation loads are interleaved, and the median rep is reported.

Usage: python benchmarks/bench_server.py [--requests 600] [--reps 3] [--task chat] [--db sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.helpers.postgres import postgres_server, start_aar_server

ADMIN = "aar_admin_bench_token_0123456789"


def request_bytes(method: str, path: str, token: str | None = None, body: bytes = b"") -> bytes:
    head = [f"{method} {path} HTTP/1.1", "Host: bench", "Connection: keep-alive"]
    if token:
        head.append(f"Authorization: Bearer {token}")
    if method != "GET":
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _client(port: int, requests: list[bytes], latencies: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for raw in requests:
            t0 = time.perf_counter()
            writer.write(raw)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            if b" 200 " not in status:
                errors.append(status.decode().strip() + " " + body[:200].decode(errors="replace"))
    finally:
        writer.close()


def load(port: int, per_client: list[list[bytes]]) -> dict:
    """Run every client's requests concurrently; throughput over the whole load, latency per request."""
    latencies: list[float] = []
    errors: list[str] = []

    async def main() -> float:
        t0 = time.perf_counter()
        await asyncio.gather(*(_client(port, reqs, latencies, errors) for reqs in per_client))
        return time.perf_counter() - t0

    wall = asyncio.run(main())
    latencies.sort()
    return {"rps": len(latencies) / wall, "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000,
            "errors": len(errors), "first_error": errors[0] if errors else ""}


def database_bytes(url: str, db_path: Path | None) -> tuple[int, int]:
    """(bytes the evaluations take, evaluations logged): the table with its indexes and the item orders."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT COUNT(*) FROM evaluations")).scalar_one()
        if url.startswith("postgresql"):  # (a server before migration 0007 has no item_orders table)
            size = conn.execute(text("SELECT pg_total_relation_size('evaluations') + "
                                     "COALESCE(pg_total_relation_size(to_regclass('item_orders')), 0)")).scalar_one()
        else:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            try:
                size = conn.execute(text("SELECT SUM(pgsize) FROM dbstat WHERE name IN ('evaluations', "
                                         "'item_orders') OR tbl_name = 'evaluations'")).scalar_one()
            except Exception:  # dbstat is optional in SQLite builds: fall back to the file size
                size = db_path.stat().st_size if db_path else 0
    engine.dispose()
    return int(size or 0), int(count)


def run(url: str, label: str, task: str, requests: int, reps: int, client_counts: list[int],
        db_path: Path | None) -> None:
    from aar.tasks import load_task

    proc, base = start_aar_server(url, ADMIN, wait_s=120)
    port = int(base.rsplit(":", 1)[1])
    try:
        admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=600)
        admin.post("/v1/admin/campaigns", json={"name": "bench", "dev_budget": 100_000,
                                                "campaign_dev_budget": 10_000_000}).raise_for_status()
        ids = [e.id for e in load_task(task).splits["dev"]]
        vectors = np.random.default_rng(0)
        made = 0

        def evaluation(token: str) -> bytes:
            """A request with a vector of its own: a repeat of the same decisions is answered free and not
            logged, which would measure the cheap path instead of the budgeted, logged one."""
            nonlocal made
            made += 1
            predictions = dict(zip(ids, vectors.random(len(ids)).round(3).tolist(), strict=True))
            return request_bytes("POST", "/v1/evaluations", token,
                                 json.dumps({"task": task, "split": "dev", "predictions": predictions}).encode())

        health = request_bytes("GET", "/healthz")
        for clients in client_counts:
            tokens = [admin.post("/v1/admin/campaigns/bench/agents", json={"name": f"a{clients}-{i}"}).json()["token"]
                      for i in range(clients)]
            load(port, [[evaluation(tokens[0])]])  # warm: the scorer loads the task
            load(port, [[evaluation(t)] for t in tokens])  # and every client's token is resolved once (steady)
            share = [requests // clients + (i < requests % clients) for i in range(clients)]
            runs: dict[str, list[dict]] = {"healthz": [], "evaluate": []}
            for _ in range(reps):
                runs["healthz"].append(load(port, [[health] * n for n in share]))
                runs["evaluate"].append(load(port, [[evaluation(tokens[i]) for _ in range(n)]
                                                    for i, n in enumerate(share)]))
            for kind, results in runs.items():
                mid = sorted(results, key=lambda r: r["rps"])[len(results) // 2]
                errors = sum(r["errors"] for r in results)
                print(f"{label:>10} {kind:>8} {clients:>2} clients: {mid['rps']:7.1f} req/s  "
                      f"p50 {mid['p50_ms']:6.1f} ms  p99 {mid['p99_ms']:6.1f} ms  "
                      f"(median of {reps} x {requests}; {errors} errors"
                      f"{': ' + results[0]['first_error'] if errors else ''})", flush=True)
        size, count = database_bytes(url, db_path)
        print(f"{label:>10} log: {count} evaluations of {len(ids)} predictions ({made} sent), "
              f"{size / max(count, 1):,.0f} database bytes per evaluation", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--task", default="chat")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--db", default="sqlite,postgresql")
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    with ExitStack() as stack:
        for kind in args.db.split(","):
            if kind == "sqlite":
                path = Path(tempfile.mkdtemp(prefix="aar-bench-db-")) / "aar.db"
                run(f"sqlite:///{path}", "sqlite", args.task, args.requests, args.reps, clients, path)
            else:
                run(stack.enter_context(postgres_server()), "postgresql", args.task, args.requests, args.reps,
                    clients, None)


if __name__ == "__main__":
    main()
