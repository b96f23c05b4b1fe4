"""Campaign-wide budgets (tokens, compute seconds, wall time, dev evaluations; dollars came in 0003) and the
transcript event log the dashboard reads (each agent's messages and tool calls, keyed by its own sequence
number so a re-sent event is stored once).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

BUDGETS = (("campaign_token_budget", sa.BigInteger, "100000000"), ("campaign_compute_s_budget", sa.Float, "86400"),
           ("campaign_wall_s_budget", sa.Float, "86400"), ("campaign_dev_budget", sa.Integer, "100000"))


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        for name, kind, default in BUDGETS:
            batch.add_column(sa.Column(name, kind, nullable=False, server_default=default))
    op.create_table(
        "transcript_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("time", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.UniqueConstraint("agent_id", "seq"),
    )


def downgrade() -> None:
    op.drop_table("transcript_events")
    with op.batch_alter_table("campaigns") as batch:
        for name, _, _ in BUDGETS:
            batch.drop_column(name)
