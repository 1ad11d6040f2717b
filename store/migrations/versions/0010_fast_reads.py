"""Indexes that make the everyday reads cost what is due or open, not what is in history

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28

- ix_episode_ri_owed: returns still owed an interview (no outcome), by return time: what
  `/missing due` lists and what the clock's sweep chases. Partial, so it holds only those.
- ix_episode_open: open episodes by start: `/missing open` (longest first) and the sweep.
- ix_episode_updated: episodes by last change: the sweep's persistence candidates (children
  whose episodes changed since the last sweep).
All three leave withdrawn episodes out, as every query does.
"""
from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OWED = "returned_at IS NOT NULL AND ri_outcome IS NULL AND withdrawn_at IS NULL"
OPEN = "returned_at IS NULL AND withdrawn_at IS NULL"
LIVE = "withdrawn_at IS NULL"


def upgrade() -> None:
    for name, column, where in (("ix_episode_ri_owed", "returned_at", OWED), ("ix_episode_open", "started_at", OPEN),
                                ("ix_episode_updated", "updated_at", LIVE)):
        op.create_index(name, "episodes", [column], sqlite_where=sa.text(where), postgresql_where=sa.text(where))


def downgrade() -> None:
    for name in ("ix_episode_updated", "ix_episode_open", "ix_episode_ri_owed"):
        op.drop_index(name, table_name="episodes")
