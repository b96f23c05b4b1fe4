"""`aar serve` and `aar worker`: the evaluation server and its verification workers."""

from __future__ import annotations

from typing import Annotated

import typer

from aar.cli.common import (
    Executor,
    RayAddress,
    ServerDb,
    UnsafeSandbox,
    console,
    migrated_db,
    resolve_ray_address,
    sandbox_mode,
)
from aar.execution_settings import ExecutionSettings


def serve(
    db: ServerDb = None,
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8765,
    workers: Annotated[int, typer.Option(min=0, max=64, help="verification worker processes (0: run "
                                         "`aar worker` elsewhere)")] = 1,
    lease_s: Annotated[float, typer.Option(min=2, max=3600, help="verification lease; a worker silent this "
                                           "long is presumed dead and its submission re-queued")] = 30,
    unsafe_sandbox: UnsafeSandbox = False,
    executor: Executor = "local",
    ray_address: RayAddress = None,
    access_log: Annotated[bool, typer.Option(help="log every request (off: at hundreds of requests a second "
                                             "the log line costs more than the request)")] = False,
) -> None:
    """Run the evaluation server (migrates the database first) and its verification workers."""
    import uvicorn

    from aar.server.admin_token import admin_token_digest
    from aar.server.app import create_app
    from aar.server.db import make_engine, session_factory
    from aar.server.worker import WorkerPool

    url, settings = _prepare(db, unsafe_sandbox, executor, ray_address)
    app_ = create_app(session_factory(make_engine(url)), admin_token_digest())
    pool = WorkerPool(url, workers, lease_s, settings)
    pool.start()
    console.print(f"[green]aar serve[/] on http://{host}:{port} (db {url.split('@')[-1]}, {workers} worker(s))")
    try:
        # httptools and uvloop (uvicorn[standard]): the pure-Python parser and loop cost most of a request's CPU
        uvicorn.run(app_, host=host, port=port, log_level="info" if access_log else "warning", http="httptools",
                    loop="uvloop", access_log=access_log)
    finally:
        pool.close()


def worker(
    db: ServerDb = None,
    lease_s: Annotated[float, typer.Option(min=2, max=3600)] = 30,
    once: Annotated[bool, typer.Option(help="exit when the queue is empty")] = False,
    unsafe_sandbox: UnsafeSandbox = False,
    executor: Executor = "local",
    ray_address: RayAddress = None,
) -> None:
    """Run one verification worker against a server's database (e.g. on a GPU machine)."""
    from aar.server.db import make_engine, session_factory
    from aar.server.worker import Worker

    url, settings = _prepare(db, unsafe_sandbox, executor, ray_address)
    Worker(session_factory(make_engine(url)), lease_s=lease_s, settings=settings).run(once=once)


def _prepare(db: str | None, unsafe_sandbox: bool, executor: str,
             ray_address: str | None) -> tuple[str, ExecutionSettings]:
    """What `aar serve` and `aar worker` do before anything starts: logging, then the checks that must fail
    first (sandbox, Ray cluster), then the database, migrated. Returns (database URL, execution settings)."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its plugin and migration chatter is not news
    address = resolve_ray_address(executor, ray_address)
    return migrated_db(db), sandbox_mode(unsafe_sandbox, address)
