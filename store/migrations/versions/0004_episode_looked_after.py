"""episodes.looked_after: the child's looked-after status when the episode began

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21

Existing episodes take the child's current status, the best that is known of them.
"""
from alembic import op
import sqlalchemy as sa


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("episodes") as batch:
        batch.add_column(sa.Column("looked_after", sa.Boolean(), nullable=True))
    op.execute("UPDATE episodes SET looked_after = (SELECT children.looked_after FROM children "
               "WHERE children.id = episodes.child_id)")


def downgrade() -> None:
    with op.batch_alter_table("episodes") as batch:
        batch.drop_column("looked_after")
