"""Compact evaluation log and a campaign-wide evaluation counter.

- ``item_orders``: each canonical item order (a task's sorted dev ids) stored once, under its sha256.
- ``evaluations.vector``: the prediction vector as little-endian float64 in that order (2.5 KB for 313
  items, against about 8 KB as a JSON object); ``predictions`` (JSON) stays readable for rows written before.
- ``campaigns.dev_evals_used``: the campaign's evaluations so far, so the campaign budget is one conditional
  ``UPDATE`` instead of a sum over agents under a campaign row lock. Backfilled from the agents.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "item_orders",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("ids", sa.JSON, nullable=False),
    )
    with op.batch_alter_table("evaluations") as batch:
        order = sa.ForeignKey("item_orders.sha256", name="fk_evaluations_item_order")
        batch.add_column(sa.Column("item_order", sa.String(64), order, nullable=True))
        batch.add_column(sa.Column("vector", sa.LargeBinary, nullable=True))
        batch.alter_column("predictions", existing_type=sa.JSON, nullable=True)
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("dev_evals_used", sa.Integer, nullable=False, server_default="0"))
    op.execute("UPDATE campaigns SET dev_evals_used = (SELECT COALESCE(SUM(agents.dev_evals_used), 0) "
               "FROM agents WHERE agents.campaign_id = campaigns.id)")


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("dev_evals_used")
    with op.batch_alter_table("evaluations") as batch:
        batch.drop_column("vector")
        batch.drop_column("item_order")
    op.drop_table("item_orders")
