"""A submission's dedupe key (agent, code, entry, task, params), unique while the submission has not failed:
identical submissions sent in parallel make one row and spend one budget unit. A failed submission gives its
key up (set to NULL), so the same code may be submitted again. Existing rows keep NULL.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("dedupe_key", sa.String(64), nullable=True))
        batch.create_index("ix_submissions_dedupe_key", ["dedupe_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.drop_index("ix_submissions_dedupe_key")
        batch.drop_column("dedupe_key")
