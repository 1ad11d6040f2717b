"""The spans triggers do their work only when a row's away_us / ri_after_us are not already right

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28

0013's triggers computed episodes.away_us and ri_after_us after every insert (SQLite: an UPDATE of
the row just written, a third of the cost of inserting an episode; PostgreSQL: a PL/pgSQL call per
row). They now carry a WHEN clause with the same expressions: a write that already gives the right
values (the import computes them in its INSERT ... SELECT) costs one comparison, and any other
write (wrong values, none at all, raw SQL) is corrected exactly as before. The update triggers
also fire when away_us or ri_after_us themselves are written, so a direct write of a wrong span is
corrected too (0013 let `UPDATE episodes SET away_us = ...` stand).
"""
import importlib.util
from pathlib import Path

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# 0013's expressions and trigger bodies, as 0013 defines them (one definition of the spans).
_spec = importlib.util.spec_from_file_location("_m0013", Path(__file__).with_name("0013_episode_spans.py"))
_m0013 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_m0013)

SPANS_COLUMNS = "started_at, returned_at, ri_at, away_us, ri_after_us"

SPANS_SQLITE = """
CREATE TRIGGER episodes_spans_{op} AFTER {OP} ON episodes
WHEN NEW.away_us IS NOT ({away}) OR NEW.ri_after_us IS NOT ({ri_after})
BEGIN
    UPDATE episodes SET away_us = {away}, ri_after_us = {ri_after} WHERE id = NEW.id;
END
"""

SPANS_POSTGRESQL = f"""
CREATE TRIGGER episodes_spans BEFORE INSERT OR UPDATE OF {SPANS_COLUMNS} ON episodes
FOR EACH ROW WHEN (NEW.away_us IS DISTINCT FROM ({{away}}) OR NEW.ri_after_us IS DISTINCT FROM ({{ri_after}}))
EXECUTE FUNCTION episodes_spans();
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        new = {"away": _m0013._sqlite_us("NEW.returned_at", "NEW.started_at"),
               "ri_after": _m0013._sqlite_us("NEW.ri_at", "NEW.returned_at")}
        op.execute("DROP TRIGGER episodes_spans_insert")
        op.execute("DROP TRIGGER episodes_spans_update")
        op.execute(SPANS_SQLITE.format(op="insert", OP="INSERT", **new))
        op.execute(SPANS_SQLITE.format(op="update", OP=f"UPDATE OF {SPANS_COLUMNS}", **new))
    else:
        op.execute("DROP TRIGGER episodes_spans ON episodes")
        op.execute(SPANS_POSTGRESQL.format(away=_m0013._postgresql_us("NEW.returned_at", "NEW.started_at"),
                                           ri_after=_m0013._postgresql_us("NEW.ri_at", "NEW.returned_at")))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        new = {"away": _m0013._sqlite_us("NEW.returned_at", "NEW.started_at"),
               "ri_after": _m0013._sqlite_us("NEW.ri_at", "NEW.returned_at")}
        op.execute("DROP TRIGGER episodes_spans_insert")
        op.execute("DROP TRIGGER episodes_spans_update")
        op.execute(_m0013.SPANS_SQLITE.format(op="insert", OP="INSERT", **new))
        op.execute(_m0013.SPANS_SQLITE.format(op="update", OP="UPDATE OF started_at, returned_at, ri_at", **new))
    else:
        op.execute("DROP TRIGGER episodes_spans ON episodes")
        op.execute("CREATE TRIGGER episodes_spans BEFORE INSERT OR UPDATE OF started_at, returned_at, ri_at ON episodes "
                   "FOR EACH ROW EXECUTE FUNCTION episodes_spans()")
