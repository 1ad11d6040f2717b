"""children.placed_by / placed_in: children across council boundaries

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-28

`placed_by`: the council (ONS name) whose looked-after child is placed in our area; it is
responsible for the child, is told when the child goes missing or returns, and the child is in
its statutory returns, not ours. `placed_in`: the council whose area our child is placed in (the
host council, told when the child goes missing). `out_of_area` stays, derived from the two; a
child flagged out of area before this migration keeps the flag with no council named.
"""
from alembic import op
import sqlalchemy as sa


revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("children") as batch:
        batch.add_column(sa.Column("placed_by", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("placed_in", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("children") as batch:
        batch.drop_column("placed_in")
        batch.drop_column("placed_by")
