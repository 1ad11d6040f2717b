"""meetings: series, occurrences (cancellations, agendas) and meeting actions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""
from alembic import op
import sqlalchemy as sa
import store.models


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("meeting_series",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("uid", sa.String(length=200), nullable=False),
    sa.Column("name", sa.String(length=120), nullable=False),
    sa.Column("config", sa.JSON(), nullable=False),
    sa.Column("dtstart", sa.Date(), nullable=False),
    sa.Column("sequence", sa.Integer(), nullable=False),
    sa.Column("mailed_sequence", sa.Integer(), nullable=False),
    sa.Column("source", sa.String(length=16), nullable=False),
    sa.Column("created_at", store.models.UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(length=32), nullable=False),
    sa.Column("updated_at", store.models.UTCDateTime(), nullable=False),
    sa.Column("cancelled_at", store.models.UTCDateTime(), nullable=True),
    sa.Column("cancelled_by", sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("name"),
    sa.UniqueConstraint("uid"),
    )
    op.create_table("meeting_occurrences",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("series_id", sa.Integer(), nullable=False),
    sa.Column("starts_at", store.models.UTCDateTime(), nullable=False),
    sa.Column("cancelled_at", store.models.UTCDateTime(), nullable=True),
    sa.Column("cancelled_by", sa.String(length=32), nullable=True),
    sa.Column("cancel_mailed_at", store.models.UTCDateTime(), nullable=True),
    sa.Column("agenda_built_at", store.models.UTCDateTime(), nullable=True),
    sa.Column("agenda_text", sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(["series_id"], ["meeting_series.id"]),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("series_id", "starts_at", name="uq_meeting_occurrence"),
    )
    with op.batch_alter_table("meeting_occurrences", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_meeting_occurrences_series_id"), ["series_id"], unique=False)

    op.create_table("meeting_actions",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("series_id", sa.Integer(), nullable=True),
    sa.Column("child_id", sa.Integer(), nullable=True),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("owner_user_id", sa.String(length=32), nullable=False),
    sa.Column("due_on", sa.Date(), nullable=False),
    sa.Column("created_at", store.models.UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(length=32), nullable=False),
    sa.Column("done_at", store.models.UTCDateTime(), nullable=True),
    sa.Column("done_by", sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(["child_id"], ["children.id"]),
    sa.ForeignKeyConstraint(["series_id"], ["meeting_series.id"]),
    sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("meeting_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_meeting_actions_due_on"), ["due_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_meeting_actions_done_at"), ["done_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("meeting_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meeting_actions_done_at"))
        batch_op.drop_index(batch_op.f("ix_meeting_actions_due_on"))
    op.drop_table("meeting_actions")
    with op.batch_alter_table("meeting_occurrences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meeting_occurrences_series_id"))
    op.drop_table("meeting_occurrences")
    op.drop_table("meeting_series")
