"""Campaigns that build on earlier ones: a submission or forum post carried over from an earlier campaign keeps
where it came from (campaign, agent, submission or post id, the number it had there) in ``origin``.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    op.add_column("submissions", sa.Column("origin", sa.JSON(), nullable=True))
    op.add_column("posts", sa.Column("origin", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("posts") as batch:
        batch.drop_column("origin")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("origin")
