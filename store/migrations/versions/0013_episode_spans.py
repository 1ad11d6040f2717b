"""How long each episode lasted and how soon its return interview came, kept by the database

Revision ID: 0013
Revises: 0012t
Create Date: 2026-11-28

episodes.away_us = returned_at - started_at and episodes.ri_after_us = ri_at - returned_at, in
microseconds (NULL while either time is missing): the board figures' duration bands and
"interview in timescale" are integer compares on them instead of date arithmetic on every
episode (on SQLite four date parses per row, most of a 1e6-episode report). Neither depends on
the clock, the time zone or the protocol's settings. The database keeps them right itself, on
every write path (record, corrections, import, erasure, raw SQL): triggers on SQLite (after
each insert, and after an update of a time), a trigger function on PostgreSQL (before insert or
update). Existing rows are filled here by the same expressions.

On SQLite the spans trigger writes the row it was fired for, which would fire 0005's overlap
check a second time on every insert (its update trigger ran on an update of any column): that
check now runs on updates of the columns it is about (child, times, withdrawal) only.
"""
import importlib.util
from pathlib import Path

from alembic import op
import sqlalchemy as sa

revision = "0013"
down_revision = "0012t"
branch_labels = None
depends_on = None


def _sqlite_us(later: str, earlier: str) -> str:
    """later - earlier in whole microseconds, from SQLite's stored text ('YYYY-MM-DD HH:MM:SS.ffffff'):
    the whole seconds by strftime('%s'), the fraction as written; exact."""
    return (f"CASE WHEN {later} IS NULL OR {earlier} IS NULL THEN NULL ELSE "
            f"(CAST(strftime('%s', substr({later}, 1, 19)) AS INTEGER) - CAST(strftime('%s', substr({earlier}, 1, 19)) "
            f"AS INTEGER)) * 1000000 + CAST(substr({later}, 21) AS INTEGER) - CAST(substr({earlier}, 21) AS INTEGER) END")


def _postgresql_us(later: str, earlier: str) -> str:
    return f"CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) * 1000000 AS BIGINT)"  # NULL when either is


SPANS_SQLITE = """
CREATE TRIGGER episodes_spans_{op} AFTER {OP} ON episodes
BEGIN
    UPDATE episodes SET away_us = {away}, ri_after_us = {ri_after} WHERE id = NEW.id;
END
"""

SPANS_POSTGRESQL = """
CREATE FUNCTION episodes_spans() RETURNS trigger AS $$
BEGIN
    NEW.away_us := {away};
    NEW.ri_after_us := {ri_after};
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER episodes_spans BEFORE INSERT OR UPDATE OF started_at, returned_at, ri_at ON episodes
FOR EACH ROW EXECUTE FUNCTION episodes_spans();
"""


# 0005's overlap trigger, as 0005 defines it (one definition of the rule).
_spec = importlib.util.spec_from_file_location("_m0005", Path(__file__).with_name("0005_record.py"))
_m0005 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_m0005)
OVERLAP_COLUMNS = "UPDATE OF child_id, started_at, returned_at, withdrawn_at"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column("episodes", sa.Column("away_us", sa.BigInteger(), nullable=True))
    op.add_column("episodes", sa.Column("ri_after_us", sa.BigInteger(), nullable=True))
    us = _sqlite_us if dialect == "sqlite" else _postgresql_us
    op.execute(f"UPDATE episodes SET away_us = {us('returned_at', 'started_at')}, "
               f"ri_after_us = {us('ri_at', 'returned_at')}")
    if dialect == "sqlite":
        new = {"away": _sqlite_us("NEW.returned_at", "NEW.started_at"), "ri_after": _sqlite_us("NEW.ri_at", "NEW.returned_at")}
        op.execute(SPANS_SQLITE.format(op="insert", OP="INSERT", **new))
        op.execute(SPANS_SQLITE.format(op="update", OP="UPDATE OF started_at, returned_at, ri_at", **new))
        op.execute("DROP TRIGGER episodes_no_overlap_update")
        op.execute(_m0005.OVERLAP_SQLITE.format(op="update", OP=OVERLAP_COLUMNS))
    else:
        op.execute(SPANS_POSTGRESQL.format(away=_postgresql_us("NEW.returned_at", "NEW.started_at"),
                                           ri_after=_postgresql_us("NEW.ri_at", "NEW.returned_at")))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER episodes_spans_insert")
        op.execute("DROP TRIGGER episodes_spans_update")
        op.execute("DROP TRIGGER episodes_no_overlap_update")
        op.execute(_m0005.OVERLAP_SQLITE.format(op="update", OP="UPDATE"))
    else:
        op.execute("DROP TRIGGER episodes_spans ON episodes")
        op.execute("DROP FUNCTION episodes_spans()")
    op.drop_column("episodes", "ri_after_us")
    op.drop_column("episodes", "away_us")
