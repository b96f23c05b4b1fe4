"""Experiments are numbered per agent: the number an agent sees (1, 2, 3 ... of its own) is what it passes
back to ``GET /v1/experiments/{number}`` and ``evaluate``. Global row ids told an agent how busy the others
were and made its first experiment "42"; existing rows are numbered in creation order.

Revision ID: 0013
Revises: 0012
"""

from typing import cast

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    op.add_column("experiments", sa.Column("number", sa.Integer(), nullable=True))
    experiments = sa.table("experiments", sa.column("id", sa.Integer), sa.column("agent_id", sa.Integer),
                           sa.column("number", sa.Integer))
    bind = op.get_bind()
    counts: dict[int, int] = {}
    for row_id, agent_id in bind.execute(sa.select(experiments.c.id, experiments.c.agent_id)
                                         .order_by(experiments.c.id)).all():
        owner = int(cast(int, agent_id))
        counts[owner] = counts.get(owner, 0) + 1
        bind.execute(experiments.update().where(experiments.c.id == row_id).values(number=counts[owner]))
    with op.batch_alter_table("experiments") as batch:
        batch.alter_column("number", existing_type=sa.Integer(), nullable=False)
        batch.create_unique_constraint("uq_experiments_agent_number", ["agent_id", "number"])


def downgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.drop_constraint("uq_experiments_agent_number", type_="unique")
        batch.drop_column("number")
