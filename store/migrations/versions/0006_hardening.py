"""seen_requests (each signed Slack request runs once); audit rows may be anonymised by retention only

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22

The audit log stays append-only: its triggers now allow one kind of UPDATE, the retention
erasure's, which keeps who, what, when and which row and may only replace `before` and/or
`after` with the fixed marker {"erased": "retention"} (store/privacy.py). DELETE is still refused.
"""
from alembic import op
import sqlalchemy as sa

import store.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

MARKER = '{"erased": "retention"}'

SQLITE_OLD_UPDATE = ("CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
                     "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END")
SQLITE_NEW_UPDATE = (
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "WHEN NOT (NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.actor = OLD.actor AND NEW.action = OLD.action "
    "AND NEW.entity = OLD.entity AND NEW.entity_id IS OLD.entity_id "
    f"AND (NEW.before IS OLD.before OR NEW.before = '{MARKER}') AND (NEW.after IS OLD.after OR NEW.after = '{MARKER}')) "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END")
PG_OLD = ("CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
          "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$")
PG_NEW = (
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.actor = OLD.actor "
    "AND NEW.action = OLD.action AND NEW.entity = OLD.entity AND NEW.entity_id IS NOT DISTINCT FROM OLD.entity_id "
    f"AND (NEW.before::text IS NOT DISTINCT FROM OLD.before::text OR NEW.before::text = '{MARKER}') "
    f"AND (NEW.after::text IS NOT DISTINCT FROM OLD.after::text OR NEW.after::text = '{MARKER}') "
    "THEN RETURN NEW; END IF; RAISE EXCEPTION 'audit_log is append-only'; END $$")


def upgrade() -> None:
    op.create_table(
        "seen_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("seen_at", store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_seen_requests_seen_at", "seen_requests", ["seen_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_NEW)
    else:
        op.execute("DROP TRIGGER audit_log_no_update")
        op.execute(SQLITE_NEW_UPDATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_OLD)
    else:
        op.execute("DROP TRIGGER audit_log_no_update")
        op.execute(SQLITE_OLD_UPDATE)
    op.drop_index("ix_seen_requests_seen_at", table_name="seen_requests")
    op.drop_table("seen_requests")
