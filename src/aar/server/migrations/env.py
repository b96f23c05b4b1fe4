"""Alembic environment: runs migrations against the URL set by aar.server.db.upgrade."""

from alembic import context
from sqlalchemy import create_engine

from aar.server.models import Base

url = context.config.get_main_option("sqlalchemy.url")
if not url:
    raise RuntimeError("no sqlalchemy.url: run migrations through aar.server.db.upgrade")
engine = create_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
