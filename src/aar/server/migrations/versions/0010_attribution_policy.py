"""A campaign's attribution policy: whether zero-shot and text-reading results may rank
(:class:`aar.results.attribution.AttributionPolicy`). Existing campaigns get the defaults: zero-shot shown,
text reading quarantined.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("allow_zero_shot", sa.Boolean, nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("allow_text_reading", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("allow_text_reading")
        batch.drop_column("allow_zero_shot")
