"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-21

Also makes audit_log append-only with triggers that refuse UPDATE and DELETE.
"""
from alembic import op
import sqlalchemy as sa
import store.models


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


APPEND_ONLY_SQLITE = [
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
]
APPEND_ONLY_POSTGRESQL = [
    "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$",
    "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
]


def _append_only() -> None:
    dialect = op.get_bind().dialect.name
    for stmt in APPEND_ONLY_POSTGRESQL if dialect == "postgresql" else APPEND_ONLY_SQLITE:
        op.execute(stmt)


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', store.models.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=32), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)

    op.create_table('children',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('child_ref', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('date_of_birth', sa.Date(), nullable=True),
    sa.Column('gender', sa.String(length=16), nullable=False),
    sa.Column('looked_after', sa.Boolean(), nullable=False),
    sa.Column('placement_type', sa.String(length=32), nullable=False),
    sa.Column('out_of_area', sa.Boolean(), nullable=False),
    sa.Column('worker_user_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', store.models.UTCDateTime(), nullable=False),
    sa.Column('updated_at', store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('child_ref')
    )
    op.create_table('episodes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('child_id', sa.Integer(), nullable=False),
    sa.Column('episode_type', sa.String(length=8), nullable=False),
    sa.Column('started_at', store.models.UTCDateTime(), nullable=False),
    sa.Column('missing_from', sa.String(length=200), nullable=False),
    sa.Column('placement_type', sa.String(length=32), nullable=False),
    sa.Column('police_ref', sa.String(length=64), nullable=False),
    sa.Column('risk_grade', sa.String(length=20), nullable=True),
    sa.Column('reported_by', sa.String(length=32), nullable=False),
    sa.Column('returned_at', store.models.UTCDateTime(), nullable=True),
    sa.Column('found_location', sa.String(length=200), nullable=False),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('cse_concern', sa.Boolean(), nullable=False),
    sa.Column('cce_concern', sa.Boolean(), nullable=False),
    sa.Column('ri_outcome', sa.String(length=16), nullable=True),
    sa.Column('ri_at', store.models.UTCDateTime(), nullable=True),
    sa.Column('ri_by', sa.String(length=100), nullable=False),
    sa.Column('strategy_meeting_at', store.models.UTCDateTime(), nullable=True),
    sa.Column('strategy_meeting_by', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('created_at', store.models.UTCDateTime(), nullable=False),
    sa.Column('updated_at', store.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['child_id'], ['children.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('child_id', 'started_at', name='uq_episode_child_start')
    )
    with op.batch_alter_table('episodes', schema=None) as batch_op:
        batch_op.create_index('ix_episode_returned', ['returned_at'], unique=False)
        batch_op.create_index('ix_episode_started', ['started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_episodes_child_id'), ['child_id'], unique=False)
        batch_op.create_index('uq_episode_one_open', ['child_id'], unique=True, sqlite_where=sa.text('returned_at IS NULL'), postgresql_where=sa.text('returned_at IS NULL'))

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('blocks', sa.JSON(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.Column('thread_key', sa.String(length=200), nullable=True),
    sa.Column('child_id', sa.Integer(), nullable=True),
    sa.Column('episode_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', store.models.UTCDateTime(), nullable=False),
    sa.Column('next_attempt_at', store.models.UTCDateTime(), nullable=False),
    sa.Column('claimed_at', store.models.UTCDateTime(), nullable=True),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('sent_at', store.models.UTCDateTime(), nullable=True),
    sa.Column('slack_channel', sa.String(length=32), nullable=True),
    sa.Column('slack_ts', sa.String(length=32), nullable=True),
    sa.Column('error', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['child_id'], ['children.id'], ),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_thread_key'), ['thread_key'], unique=False)

    _append_only()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_log_no_change ON audit_log")
        op.execute("DROP FUNCTION audit_log_append_only()")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_thread_key'))
        batch_op.drop_index('ix_outbox_due')

    op.drop_table('outbox')
    with op.batch_alter_table('episodes', schema=None) as batch_op:
        batch_op.drop_index('uq_episode_one_open', sqlite_where=sa.text('returned_at IS NULL'), postgresql_where=sa.text('returned_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_episodes_child_id'))
        batch_op.drop_index('ix_episode_started')
        batch_op.drop_index('ix_episode_returned')

    op.drop_table('episodes')
    op.drop_table('children')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))

    op.drop_table('audit_log')
