"""The hash of each evaluation's decisions (which side of 0.5 every item's prediction falls on), indexed per
agent, so an agent that evaluates the same decisions again gets its earlier answer back for free.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    with op.batch_alter_table("evaluations") as batch:
        batch.add_column(sa.Column("decisions_sha256", sa.String(64), nullable=True))
    op.create_index("ix_evaluations_agent_decisions", "evaluations", ["agent_id", "decisions_sha256"])


def downgrade() -> None:
    op.drop_index("ix_evaluations_agent_decisions", table_name="evaluations")
    with op.batch_alter_table("evaluations") as batch:
        batch.drop_column("decisions_sha256")
