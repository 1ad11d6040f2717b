"""Strategy meetings live in held_meetings only: drop episodes.strategy_meeting_at/by

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28

Migration 0005 copied the strategy meetings recorded by the alert button into held_meetings;
a meeting recorded after that by a bot still running the old code is copied here before the
columns go. The downgrade puts the earliest strategy meeting of each episode back.
"""
from alembic import op
import sqlalchemy as sa

import store.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("INSERT INTO held_meetings (child_id, episode_id, kind, held_at, note, recorded_by, created_at) "
               "SELECT e.child_id, e.id, 'strategy', e.strategy_meeting_at, '', e.strategy_meeting_by, "
               "e.strategy_meeting_at FROM episodes e WHERE e.strategy_meeting_at IS NOT NULL AND NOT EXISTS ("
               "SELECT 1 FROM held_meetings h WHERE h.episode_id = e.id AND h.kind = 'strategy')")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy of the table would drop the
    # overlap triggers of 0005 with it.
    op.drop_column("episodes", "strategy_meeting_at")
    op.drop_column("episodes", "strategy_meeting_by")


def downgrade() -> None:
    op.add_column("episodes", sa.Column("strategy_meeting_at", store.models.UTCDateTime(), nullable=True))
    op.add_column("episodes", sa.Column("strategy_meeting_by", sa.String(32), nullable=False, server_default=""))
    op.execute("UPDATE episodes SET strategy_meeting_at = (SELECT MIN(h.held_at) FROM held_meetings h "
               "WHERE h.episode_id = episodes.id AND h.kind = 'strategy'), strategy_meeting_by = COALESCE(("
               "SELECT SUBSTR(h.recorded_by, 1, 32) FROM held_meetings h WHERE h.episode_id = episodes.id "
               "AND h.kind = 'strategy' ORDER BY h.held_at LIMIT 1), '')")
