"""The record the council can stand behind: withdrawn episodes, what practice records, held
meetings, and no overlapping episodes enforced by the database

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

- episodes: withdrawn_at/by/reason (recorded in error: kept, counted nowhere), returned_by,
  push/pull factors, concern note, and the return interview's offer time, independence, the
  child's account, follow-up, who recorded it and the manager's sign-off.
- The one-open-episode and one-episode-per-start rules now hold for live episodes only.
- No two live episodes of a child overlap: an exclusion constraint on PostgreSQL (btree_gist),
  triggers on SQLite (which has no exclusion constraints).
- held_meetings: strategy meetings, IPMs and strategy discussions with the time they were held;
  the strategy meetings recorded until now by the alert button move there.
"""
from alembic import op
import sqlalchemy as sa

import store.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OVERLAP_SQLITE = """
CREATE TRIGGER episodes_no_overlap_{op} BEFORE {OP} ON episodes
WHEN NEW.withdrawn_at IS NULL AND EXISTS (
    SELECT 1 FROM episodes o
    WHERE o.child_id = NEW.child_id AND o.id IS NOT NEW.id AND o.withdrawn_at IS NULL
      AND o.started_at < COALESCE(NEW.returned_at, '9999-12-31 00:00:00')
      AND NEW.started_at < COALESCE(o.returned_at, '9999-12-31 00:00:00'))
BEGIN
    SELECT RAISE(ABORT, 'episodes of one child may not overlap');
END
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("episodes") as batch:
        batch.drop_constraint("uq_episode_child_start", type_="unique")
        batch.drop_index("uq_episode_one_open", sqlite_where=sa.text("returned_at IS NULL"),
                         postgresql_where=sa.text("returned_at IS NULL"))
        batch.add_column(sa.Column("returned_by", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("factors", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("concern_note", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("ri_offered_at", store.models.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("ri_independent", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("ri_account", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("ri_followup", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("ri_recorded_by", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("ri_signed_off_at", store.models.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("ri_signed_off_by", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("withdrawn_at", store.models.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("withdrawn_by", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("withdrawn_reason", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("episodes") as batch:
        batch.create_index("uq_episode_child_start", ["child_id", "started_at"], unique=True,
                           sqlite_where=sa.text("withdrawn_at IS NULL"),
                           postgresql_where=sa.text("withdrawn_at IS NULL"))
        batch.create_index("uq_episode_one_open", ["child_id"], unique=True,
                           sqlite_where=sa.text("returned_at IS NULL AND withdrawn_at IS NULL"),
                           postgresql_where=sa.text("returned_at IS NULL AND withdrawn_at IS NULL"))
    if dialect == "postgresql":
        # btree_gist is a trusted extension (PostgreSQL 13+): the database owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute("ALTER TABLE episodes ADD CONSTRAINT ex_episode_no_overlap EXCLUDE USING gist "
                   "(child_id WITH =, tsrange(started_at, returned_at, '[)') WITH &&) WHERE (withdrawn_at IS NULL)")
    else:
        op.execute(OVERLAP_SQLITE.format(op="insert", OP="INSERT"))
        op.execute(OVERLAP_SQLITE.format(op="update", OP="UPDATE"))

    op.create_table(
        "held_meetings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=True),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("held_at", store.models.UTCDateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("created_at", store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["child_id"], ["children.id"]),
        sa.ForeignKeyConstraint(["episode_id"], ["episodes.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_held_meetings_child_id", "held_meetings", ["child_id"])
    op.execute("INSERT INTO held_meetings (child_id, episode_id, kind, held_at, note, recorded_by, created_at) "
               "SELECT child_id, id, 'strategy', strategy_meeting_at, '', strategy_meeting_by, strategy_meeting_at "
               "FROM episodes WHERE strategy_meeting_at IS NOT NULL")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.drop_index("ix_held_meetings_child_id", table_name="held_meetings")
    op.drop_table("held_meetings")
    if dialect == "postgresql":
        op.execute("ALTER TABLE episodes DROP CONSTRAINT ex_episode_no_overlap")
    else:
        op.execute("DROP TRIGGER episodes_no_overlap_insert")
        op.execute("DROP TRIGGER episodes_no_overlap_update")
    op.execute("DELETE FROM episodes WHERE withdrawn_at IS NOT NULL")
    with op.batch_alter_table("episodes") as batch:
        batch.drop_index("uq_episode_child_start")
        batch.drop_index("uq_episode_one_open")
    with op.batch_alter_table("episodes") as batch:
        for name in ("returned_by", "factors", "concern_note", "ri_offered_at", "ri_independent", "ri_account",
                     "ri_followup", "ri_recorded_by", "ri_signed_off_at", "ri_signed_off_by", "withdrawn_at",
                     "withdrawn_by", "withdrawn_reason"):
            batch.drop_column(name)
        batch.create_unique_constraint("uq_episode_child_start", ["child_id", "started_at"])
        batch.create_index("uq_episode_one_open", ["child_id"], unique=True,
                           sqlite_where=sa.text("returned_at IS NULL"), postgresql_where=sa.text("returned_at IS NULL"))
