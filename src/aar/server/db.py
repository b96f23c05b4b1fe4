"""Database engines: SQLite in WAL mode by default, PostgreSQL by URL; schema managed by Alembic."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from aar.errors import AarError

if TYPE_CHECKING:
    from aar.server.models import Campaign

MIGRATIONS = Path(__file__).parent / "migrations"


def check_url(url: str) -> str:
    """A SQLite or PostgreSQL URL SQLAlchemy can parse, or one clear error (before Alembic or a driver sees it)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    scheme = url.split(":", 1)[0]
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise AarError(f"not a database URL: {scheme!r}...; use sqlite:///PATH or postgresql://USER@HOST/DB") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise AarError(f"unsupported database {parsed.get_backend_name()!r}; use sqlite:///PATH or "
                       "postgresql://USER@HOST/DB")
    return url


def make_engine(url: str) -> Engine:
    check_url(url)
    if url.startswith("sqlite"):
        # as many connections as request threads (anyio's 40): a request never waits for a connection
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=16,
                               max_overflow=32)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:  # WAL: readers never block the writer
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=16, max_overflow=32)


def upgrade(url: str) -> None:
    """Bring the schema to the newest Alembic revision (idempotent)."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy.exc import OperationalError

    check_url(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    try:
        command.upgrade(config, "head")
    except OperationalError as exc:
        raise AarError(f"cannot open the database {url.split('@')[-1]}: {str(exc.orig).strip().splitlines()[0]}") \
            from None
    _private(url)


def _private(url: str) -> None:
    """A SQLite database holds every label-bearing log: readable by its owner only (SQLite gives its -wal
    and -shm files the same mode)."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url.removeprefix("sqlite:///"))
        if path.exists():
            path.chmod(0o600)


def session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def open_campaign(url: str, name: str) -> Iterator[tuple[Session, Campaign]]:
    """A campaign's database, brought to this version's schema, and its row: the one way every admin-side
    command (results, integrity, transfer, report, heritage) opens a campaign, with one error text. The session
    and engine close when the block ends."""
    from sqlalchemy import select

    from aar.server.models import Campaign

    upgrade(url)  # a campaign run by an older version: its tables brought to this schema first
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            campaign = session.scalar(select(Campaign).where(Campaign.name == name))
            if campaign is None:
                raise AarError(f"no campaign {name!r} in the database {url.split('@')[-1]}")
            yield session, campaign
    finally:
        engine.dispose()
