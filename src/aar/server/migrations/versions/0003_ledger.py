"""Researcher accounting: per-agent budgets on the campaign, usage totals and state on the agent, and the
usage event log (for cost-over-time plots and audits).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.types import TypeEngine

revision = "0003"
down_revision = "0002"

Column = tuple[str, type[TypeEngine], str]  # name, type, server default
BUDGETS: tuple[Column, ...] = (("agent_usd_budget", sa.Float, "5.0"), ("agent_token_budget", sa.BigInteger, "5000000"),
           ("agent_compute_s_budget", sa.Float, "7200"), ("agent_wall_s_budget", sa.Float, "7200"),
           ("campaign_usd_budget", sa.Float, "50.0"))
TOTALS: tuple[Column, ...] = (("llm_calls", sa.Integer, "0"), ("input_tokens", sa.BigInteger, "0"),
                              ("output_tokens", sa.BigInteger, "0"),
          ("cached_tokens", sa.BigInteger, "0"), ("cost_usd", sa.Float, "0"), ("compute_s", sa.Float, "0"))


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        for name, kind, default in BUDGETS:
            batch.add_column(sa.Column(name, kind, nullable=False, server_default=default))
    with op.batch_alter_table("agents") as batch:
        for name, kind, default in TOTALS:
            batch.add_column(sa.Column(name, kind, nullable=False, server_default=default))
        batch.add_column(sa.Column("state", sa.String(16), nullable=False, server_default="created"))
        batch.add_column(sa.Column("stop_reason", sa.String(200), nullable=True))
        batch.add_column(sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "usage_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("llm_calls", sa.Integer, nullable=False),
        sa.Column("input_tokens", sa.BigInteger, nullable=False),
        sa.Column("output_tokens", sa.BigInteger, nullable=False),
        sa.Column("cached_tokens", sa.BigInteger, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("compute_s", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("usage_events")
    with op.batch_alter_table("agents") as batch:
        for name in ("last_seen", "stop_reason", "state", *(t[0] for t in TOTALS)):
            batch.drop_column(name)
    with op.batch_alter_table("campaigns") as batch:
        for name, _, _ in BUDGETS:
            batch.drop_column(name)
