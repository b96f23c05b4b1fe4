"""Repeats of a dev query are free and answered the same across a whole campaign (one noise draw per vector
per campaign, not per agent): the writer looks earlier replies up by campaign and decisions.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    op.create_index("ix_evaluations_campaign_decisions", "evaluations", ["campaign_id", "decisions_sha256"])


def downgrade() -> None:
    op.drop_index("ix_evaluations_campaign_decisions", "evaluations")
