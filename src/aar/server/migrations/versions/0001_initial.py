"""Campaigns, agents and the evaluation log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("dev_budget", sa.Integer, nullable=False),
        sa.Column("round_digits", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("dev_evals_used", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("campaign_id", "name"),
    )
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("task", sa.String(40), nullable=False),
        sa.Column("split", sa.String(16), nullable=False),
        sa.Column("predictions_sha256", sa.String(64), nullable=False),
        sa.Column("predictions", sa.JSON, nullable=False),
        sa.Column("accuracy", sa.Float, nullable=False),
        sa.Column("pgr", sa.Float, nullable=True),
        sa.Column("request_id", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("evaluations")
    op.drop_table("agents")
    op.drop_table("campaigns")
