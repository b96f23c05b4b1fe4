"""Verified submissions (snapshots, queue, per-seed predictions), the forum (posts, votes) and its
full-text index: SQLite FTS5 kept in sync by triggers, or a PostgreSQL generated tsvector with a GIN index.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def _fk(table: str, ondelete: str = "CASCADE") -> sa.ForeignKey:
    return sa.ForeignKey(f"{table}.id", ondelete=ondelete)


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("submit_budget", sa.Integer, nullable=False, server_default="10"))
        batch.add_column(sa.Column("verify_seeds", sa.JSON, nullable=False,
                                   server_default=sa.text("'[1000, 1001, 1002, 1003, 1004]'")))
        batch.add_column(sa.Column("verify_timeout_s", sa.Integer, nullable=False, server_default="1800"))
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("submissions_used", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "snapshots",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, _fk("campaigns"), nullable=False, index=True),
        sa.Column("agent_id", sa.Integer, _fk("agents"), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("task", sa.String(40), nullable=False),
        sa.Column("entry", sa.String(200), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("snapshot_sha256", sa.String(64), sa.ForeignKey("snapshots.sha256"), nullable=False),
        sa.Column("seeds", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker", sa.String(64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("method_name", sa.String(64), nullable=True),
        sa.Column("result", sa.JSON, nullable=True),
        sa.Column("quarantine_reason", sa.Text, nullable=True),
    )
    op.create_table(
        "seed_predictions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("submission_id", sa.Integer, _fk("submissions"), nullable=False, index=True),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("split", sa.String(16), nullable=False),
        sa.Column("predictions", sa.JSON, nullable=False),
        sa.UniqueConstraint("submission_id", "seed", "split"),
    )
    op.create_table(
        "posts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, _fk("campaigns"), nullable=False, index=True),
        sa.Column("agent_id", sa.Integer, _fk("agents"), nullable=False, index=True),
        sa.Column("parent_id", sa.Integer, _fk("posts"), nullable=True, index=True),
        sa.Column("root_id", sa.Integer, nullable=True, index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("tags", sa.String(400), nullable=False),
        sa.Column("submission_id", sa.Integer, _fk("submissions", "SET NULL"), nullable=True),
    )
    op.create_table(
        "votes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("post_id", sa.Integer, _fk("posts"), nullable=False, index=True),
        sa.Column("agent_id", sa.Integer, _fk("agents"), nullable=False),
        sa.Column("value", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("post_id", "agent_id"),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE posts_fts USING fts5(title, body, tags, content='posts', "
                   "content_rowid='id', tokenize='porter unicode61')")
        op.execute("CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN "
                   "INSERT INTO posts_fts(rowid, title, body, tags) VALUES (new.id, new.title, new.body, new.tags); "
                   "END")
        op.execute("CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN "
                   "INSERT INTO posts_fts(posts_fts, rowid, title, body, tags) "
                   "VALUES ('delete', old.id, old.title, old.body, old.tags); END")
        op.execute("CREATE TRIGGER posts_fts_update AFTER UPDATE ON posts BEGIN "
                   "INSERT INTO posts_fts(posts_fts, rowid, title, body, tags) "
                   "VALUES ('delete', old.id, old.title, old.body, old.tags); "
                   "INSERT INTO posts_fts(rowid, title, body, tags) VALUES (new.id, new.title, new.body, new.tags); "
                   "END")
    else:
        op.execute("ALTER TABLE posts ADD COLUMN search tsvector GENERATED ALWAYS AS "
                   "(to_tsvector('english', title || ' ' || body || ' ' || tags)) STORED")
        op.execute("CREATE INDEX posts_search_idx ON posts USING GIN (search)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("posts_fts_insert", "posts_fts_delete", "posts_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS posts_fts")
    for table in ("votes", "posts", "seed_predictions", "submissions", "snapshots"):
        op.drop_table(table)
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("submissions_used")
    with op.batch_alter_table("campaigns") as batch:
        for column in ("verify_timeout_s", "verify_seeds", "submit_budget"):
            batch.drop_column(column)
