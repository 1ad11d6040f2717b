"""Importing a CSV of past episodes: all or nothing, idempotent, any size in bounded memory.

`import_csv(ctx, data)` reads the file as a stream, each row checked as it comes
(bot/protocol/csvimport.py), into a temporary staging table a chunk at a time, all in the
caller's transaction (`ctx.session`). The checks across rows (duplicates, overlaps, more than one
open episode, within the file and against what is recorded) run in SQL; only the children found
wanting are read back, to name their lines. Then everything is written from the staging table:
children, episodes, one audit row per child created or updated and one summary audit row for the
import. Any problem raises `Problems` (the first MAX_PROBLEMS by line, the rest counted) before
anything is written to the real tables, and the caller's rollback takes the staging tables too.
Memory holds one chunk of rows, the problems, and the ids of the children given new episodes
(for the clock's hook), never the file.

- An episode is identified by child_ref + started_at: a row already recorded is skipped, so
  importing the same file twice changes nothing.
- A child's details come from its latest row. A new child is created from it; a recorded
  child is updated from it only when that row is newer than every episode already recorded
  for the child (an old history file never overwrites today's placement).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from itertools import groupby, islice
from operator import attrgetter
from typing import BinaryIO, Iterator

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
    update,
)

from bot.context import Ctx
from bot.protocol.csvimport import (
    MAX_PROBLEMS,
    ImportRow,
    Problems,
    child_problems,
    first_problems,
    read_rows,
    recorded_problems,
)
from store.models import AuditRecord, Child, Episode, UTCDateTime

CHILD_FIELDS = ("label", "date_of_birth", "gender", "looked_after", "placement_type", "out_of_area", "placed_by",
                "placed_in")
CHUNK = 5000  # rows parsed and staged at a time
PAGE = 1000  # rows read back at a time

__all__ = ["ImportResult", "Problems", "import_csv"]


@dataclass
class ImportResult:
    rows: int = 0
    episodes_added: int = 0
    episodes_already_recorded: int = 0
    children_created: int = 0
    children_updated: int = 0
    child_ids: list[int] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.rows} rows: {self.episodes_added} episodes added, {self.episodes_already_recorded} already "
                f"recorded; {self.children_created} children created, {self.children_updated} updated.")


EPISODE_COLUMNS = ("child_id", "episode_type", "started_at", "missing_from", "placement_type", "looked_after",
                   "police_ref", "risk_grade", "reported_by", "returned_at", "found_location", "reasons", "cse_concern",
                   "cce_concern", "ri_outcome", "ri_at", "ri_by", "source", "created_at", "updated_at", "away_us",
                   "ri_after_us")

# The staging tables: temporary (this connection only; gone at rollback, dropped after success).
STAGE = MetaData()
ROWS = Table(  # one row of the file each: the child's details on it and the episode
    "import_rows", STAGE,
    Column("line", Integer, primary_key=True, autoincrement=False),
    Column("child_ref", String(64), nullable=False),
    Column("label", String(64)), Column("date_of_birth", Date), Column("gender", String(16)),
    Column("looked_after", Boolean), Column("placement_type", String(32)), Column("out_of_area", Boolean),
    Column("placed_by", String(100)), Column("placed_in", String(100)),
    Column("episode_type", String(8)), Column("missing_from", String(200)), Column("started_at", UTCDateTime),
    Column("returned_at", UTCDateTime), Column("risk_grade", String(20)), Column("police_ref", String(64)),
    Column("found_location", String(200)), Column("reasons", Text), Column("cse_concern", Boolean),
    Column("cce_concern", Boolean), Column("ri_outcome", String(16)), Column("ri_at", UTCDateTime),
    Column("recorded", Integer, nullable=False, server_default="0"),  # 1: this episode is already recorded
    prefixes=["TEMPORARY"])
KIDS = Table(  # one row per child of the file
    "import_children", STAGE,
    Column("child_ref", String(64), primary_key=True),
    Column("first", Integer, nullable=False),  # the child's first line in the file
    Column("line", Integer, nullable=False),  # the child's latest row
    Column("child_id", Integer),  # None until the child is recorded
    Column("created", Integer, nullable=False, server_default="0"),  # 1: created by this import
    prefixes=["TEMPORARY"])
STAGED = [c.name for c in ROWS.columns if c.name != "recorded"]


def _stored(dialect: str):
    """An aware datetime as `store.models.UTCDateTime` stores it: naive UTC (on SQLite, the text
    SQLAlchemy writes, 2025-06-01 13:30:00.000000); None stays None."""
    utc = timezone.utc

    def value(t: datetime | None):
        if t is None:
            return None
        if t.tzinfo is not utc:
            t = t.astimezone(utc)
        if dialect == "sqlite":  # (isoformat and slices: a third of the cost of .replace(tzinfo=None))
            text = t.isoformat(" ")
            return text[:19] + (text[19:26] if t.microsecond else ".000000")
        return datetime.combine(t, t.time())  # naive

    return value


def _span(dialect: str, later: str, earlier: str):
    """later - earlier in whole microseconds (NULL when either is), as the database's spans
    triggers compute episodes.away_us and ri_after_us (migrations 0013, 0014): given these, the
    triggers find nothing to correct and skip their work; were they ever wrong, the triggers
    would still write the right ones."""
    if dialect == "postgresql":
        sql = f"CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) * 1000000 AS BIGINT)"
    else:  # the stored text 'YYYY-MM-DD HH:MM:SS.ffffff': whole seconds by strftime('%s'), the fraction as written
        sql = (f"CASE WHEN {later} IS NULL OR {earlier} IS NULL THEN NULL ELSE "
               f"(CAST(strftime('%s', substr({later}, 1, 19)) AS INTEGER) - CAST(strftime('%s', substr({earlier}, 1, 19)) "
               f"AS INTEGER)) * 1000000 + CAST(substr({later}, 21) AS INTEGER) - CAST(substr({earlier}, 21) AS INTEGER) END")
    return literal_column(sql, BigInteger)


def _batches(items, size: int):
    items = iter(items)
    while part := list(islice(items, size)):
        yield part


def _json(values: dict) -> dict:
    return {k: v.isoformat() if isinstance(v, (date, datetime)) else v for k, v in values.items()}


class _Hashing:
    """A binary file read through, its SHA-256 kept (the audit row names the file by it)."""

    def __init__(self, source: BinaryIO) -> None:
        self.source, self.sha = source, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.source.read(n)
        self.sha.update(data)
        return data


def _json_object(dialect: str, values: dict):
    """SQL for the JSON object of `values` (name: column) as `_json` and the JSON type write it:
    dates as ISO text, booleans as true/false, NULL as null."""
    if dialect == "postgresql":
        return func.json_build_object(*[x for name, col in values.items() for x in (literal(name, String), col)])
    pairs = []
    for name, col in values.items():
        if isinstance(col.type, Boolean):  # SQLite keeps 1/0
            col = func.json(case((col.is_(None), "null"), (col, "true"), else_="false"))
        pairs += [literal(name, String), col]
    return func.json_object(*pairs)


def _drop(conn) -> None:
    temp = "pg_temp" if conn.dialect.name == "postgresql" else "temp"
    for table in (KIDS, ROWS):
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {temp}.{table.name}")


def _stage(conn, rows: Iterator[ImportRow]) -> int:
    """Write the rows into ROWS a chunk at a time (PostgreSQL: COPY); how many there were."""
    dialect = conn.dialect.name
    value = _stored(dialect)
    day = (lambda d: d and d.isoformat()) if dialect == "sqlite" else (lambda d: d)
    names = ", ".join(STAGED)
    count = 0
    for part in _batches(rows, CHUNK):
        values = [(r.line, r.child_ref, r.child_label, day(r.date_of_birth), r.gender, r.looked_after,
                   r.placement_type, r.out_of_area, r.placed_by, r.placed_in, r.episode_type, r.missing_from,
                   value(r.started_at), value(r.returned_at), r.risk_grade, r.police_ref, r.found_location, r.reason,
                   r.cse_concern, r.cce_concern, r.ri_outcome, value(r.ri_at)) for r in part]
        if dialect == "postgresql":
            with conn.connection.driver_connection.cursor() as cur, \
                    cur.copy(f"COPY {ROWS.name} ({names}) FROM STDIN") as copy:
                for v in values:
                    copy.write_row(v)
        else:
            conn.exec_driver_sql(f"INSERT INTO {ROWS.name} ({names}) VALUES ({', '.join('?' * len(STAGED))})", values)
        count += len(values)
    return count


def _stream(conn, query):
    """The query's rows a page at a time (PostgreSQL: a server-side cursor; SQLite's is lazy)."""
    return conn.execute(query.execution_options(yield_per=PAGE))


def _file_problems(conn, zone) -> Iterator[str]:
    """Duplicates and overlaps among the file's rows: found in SQL (each row against the furthest
    end of the child's earlier rows), then the children concerned read back to name the lines."""
    r = ROWS.c
    before = {"partition_by": r.child_ref, "order_by": (r.started_at, r.line), "rows": (None, -1)}
    w = select(r.child_ref, r.started_at,
               func.count().over(partition_by=(r.child_ref, r.started_at)).label("same"),
               func.max(case((r.returned_at.is_(None), 1), else_=0)).over(**before).label("open_before"),
               func.max(r.returned_at).over(**before).label("end_before")).subquery()
    wanting = select(w.c.child_ref).where(or_(w.c.same > 1, w.c.open_before == 1, w.c.started_at < w.c.end_before))
    query = (select(r.child_ref, r.line, r.started_at, r.returned_at).where(r.child_ref.in_(wanting))
             .order_by(r.child_ref, r.line))
    for child_ref, rows in groupby(_stream(conn, query), key=attrgetter("child_ref")):
        yield from child_problems(child_ref, rows, zone)


def _recorded_problems(conn, zone) -> Iterator[str]:
    """New rows that overlap an episode already recorded for the child: found in SQL, then the
    children concerned read back (recorded spans and new rows) to name the lines."""
    r, k, e = ROWS.c, KIDS.c, Episode.__table__.c
    overlapping = exists().where(e.child_id == k.child_id,
                                 or_(r.returned_at.is_(None), e.started_at < r.returned_at),
                                 or_(e.returned_at.is_(None), r.started_at < e.returned_at))
    wanting = (select(r.child_ref).join(KIDS, k.child_ref == r.child_ref)
               .where(r.recorded == 0, k.child_id.is_not(None), overlapping))
    recorded = (select(k.child_ref, cast(null(), Integer).label("line"), e.started_at, e.returned_at)
                .join(Episode.__table__, e.child_id == k.child_id).where(k.child_ref.in_(wanting)))
    new = select(r.child_ref, r.line, r.started_at, r.returned_at).where(r.recorded == 0, r.child_ref.in_(wanting))
    query = union_all(recorded, new).order_by("child_ref")
    for child_ref, rows in groupby(_stream(conn, query), key=attrgetter("child_ref")):
        rows = list(rows)  # one child's
        yield from recorded_problems(child_ref, [(x.started_at, x.returned_at) for x in rows if x.line is None],
                                     [x for x in rows if x.line is not None], zone)


def _pages(conn, query, key):
    """A query's rows a page at a time by `key` (unique, ascending): each page a separate
    statement, so the caller may write between pages."""
    after = None
    while True:
        page = conn.execute((query if after is None else query.where(key > after)).order_by(key).limit(PAGE)).all()
        if not page:
            return
        yield page
        after = page[-1]._mapping[key.name]


def import_csv(ctx: Ctx, data: bytes | BinaryIO) -> ImportResult:
    """Import the file (bytes, or a binary file read as a stream) inside `ctx.session`'s
    transaction; raises `Problems` and writes nothing if any row is bad."""
    session, now, zone = ctx.session, ctx.now, ctx.zone
    conn = session.connection()
    pg = conn.dialect.name == "postgresql"
    source = None if isinstance(data, (bytes, bytearray)) else _Hashing(data)
    _drop(conn)  # left by nothing, unless a caller committed after an error
    STAGE.create_all(conn)

    # The file, row by row, into the staging table; problems of single rows as they come.
    problems: list[str] = []
    rows = _stage(conn, read_rows(source or data, zone, now, ctx.protocol.future_grace_minutes, problems))
    sha = source.sha if source is not None else hashlib.sha256(data)
    if not rows and not problems:
        problems.append("line 2, file: no rows after the header")
    across, total = first_problems(_file_problems(conn, zone), MAX_PROBLEMS - len(problems))
    total += len(problems)
    problems += across
    if problems:
        raise Problems(problems, total)

    # The children: each one's latest row, and its id when it is recorded.
    r, k = ROWS.c, KIDS.c
    c, e = Child.__table__.c, Episode.__table__.c
    latest = select(r.child_ref, r.line, func.min(r.line).over(partition_by=r.child_ref).label("first"),
                    func.row_number().over(partition_by=r.child_ref, order_by=(r.started_at.desc(), r.line)).label("n")
                    ).subquery()
    conn.execute(insert(KIDS).from_select(["child_ref", "first", "line"], select(
        latest.c.child_ref, latest.c.first, latest.c.line).where(latest.c.n == 1)))
    child_id = select(c.id).where(c.child_ref == k.child_ref).scalar_subquery()
    conn.execute(update(KIDS).values(child_id=child_id))
    conn.execute(update(ROWS).values(recorded=1).where(exists().where(
        k.child_ref == r.child_ref, e.child_id == k.child_id, e.started_at == r.started_at)))
    if pg:  # temporary tables are never analysed on their own; without it the check against the
        # record is planned as if ROWS were empty (80 s for 3,000 rows beside 3,000 recorded, 0.7 s with it)
        # (the columns the statements from here on join, filter and sort by: the row counts come with
        # any; statistics for all 28 columns were four fifths of its time, 0.4 s for 100,000 rows)
        conn.exec_driver_sql(f"ANALYZE {KIDS.name} (child_ref, line, child_id), "
                             f"{ROWS.name} (line, child_ref, recorded, started_at, returned_at)")
    problems, total = first_problems(_recorded_problems(conn, zone))
    if problems:
        raise Problems(problems, total)

    result = ImportResult(rows=rows)
    result.episodes_already_recorded = conn.execute(
        select(func.count()).select_from(ROWS).where(r.recorded == 1)).scalar_one()
    actor = ctx.user_id[:32]

    # Recorded children whose latest row is newer than every episode recorded for them.
    newer = (select(k.child_id, k.child_ref, *[c[f] for f in CHILD_FIELDS],
                    *[r[f].label(f"new_{f}") for f in CHILD_FIELDS])
             .join(ROWS, r.line == k.line).join(Child.__table__, c.id == k.child_id)
             .where(k.child_id.is_not(None), ~exists().where(e.child_id == k.child_id, e.started_at >= r.started_at)))
    for page in _pages(conn, newer, k.child_ref):
        updates, audits = [], []
        for row in page:
            before = {f: row._mapping[c[f]] for f in CHILD_FIELDS}
            after = {f: row._mapping[f"new_{f}"] for f in CHILD_FIELDS}
            changed = [f for f in CHILD_FIELDS if before[f] != after[f]]
            if changed:
                updates.append({"child": row.child_id, **{f"v_{f}": v for f, v in after.items()}})
                audits.append({"at": now, "actor": actor, "action": "child.import_update", "entity": "child",
                               "entity_id": row.child_id, "before": _json({f: before[f] for f in changed}),
                               "after": _json({f: after[f] for f in changed})})
        if updates:
            conn.execute(update(Child.__table__).where(c.id == bindparam("child")).values(
                {**{f: bindparam(f"v_{f}") for f in CHILD_FIELDS}, "updated_at": now}), updates)
            conn.execute(insert(AuditRecord.__table__), audits)
            result.children_updated += len(updates)

    # New children, from their latest rows.
    stamp = literal(now, UTCDateTime)
    created = conn.execute(insert(Child.__table__).from_select(
        ["child_ref", *CHILD_FIELDS, "created_at", "updated_at"],
        select(k.child_ref, *[r[f] for f in CHILD_FIELDS], stamp, stamp).join(ROWS, r.line == k.line)
        .where(k.child_id.is_(None)).order_by(k.first), include_defaults=False),  # in the file's order
        execution_options={"preserve_rowcount": True})
    result.children_created = created.rowcount
    if result.children_created:
        conn.execute(update(KIDS).where(k.child_id.is_(None)).values(child_id=child_id, created=1))
        # One audit row each, its `after` built by the database: the JSON _json() would write.
        conn.execute(insert(AuditRecord.__table__).from_select(
            ["at", "actor", "action", "entity", "entity_id", "after"],
            select(stamp, literal(actor), literal("child.import"), literal("child"), k.child_id,
                   _json_object(conn.dialect.name, {f: r[f] for f in CHILD_FIELDS}))
            .join(ROWS, r.line == k.line).where(k.created == 1).order_by(k.child_id), include_defaults=False))

    # Episodes, one statement; the table's constraints (the exclusion constraint against overlaps
    # on PostgreSQL, the triggers on SQLite) check every row as it goes in. SQLite: in file order.
    # PostgreSQL: by start, which the exclusion constraint's GiST index takes a fifth faster than a
    # file written child by child (most of this statement's time is spent in that index).
    order = (r.started_at, r.line) if pg else (r.line,)
    if rows > result.episodes_already_recorded:
        if not pg:  # the indexes fill in random order: a bigger page cache for this
            cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
            conn.exec_driver_sql("PRAGMA cache_size=-16384")  # 16 MB
        try:
            added = conn.execute(insert(Episode.__table__).from_select(EPISODE_COLUMNS, select(
                k.child_id, r.episode_type, r.started_at, r.missing_from, r.placement_type, r.looked_after,
                r.police_ref, r.risk_grade, literal(actor), r.returned_at, r.found_location, r.reasons, r.cse_concern,
                r.cce_concern, r.ri_outcome, r.ri_at, literal(""), literal("import"), stamp, stamp,
                _span(conn.dialect.name, "import_rows.returned_at", "import_rows.started_at"),
                _span(conn.dialect.name, "import_rows.ri_at", "import_rows.returned_at"))
                .join(KIDS, k.child_ref == r.child_ref).where(r.recorded == 0).order_by(*order),
                include_defaults=False), execution_options={"preserve_rowcount": True})
        finally:
            if not pg:
                conn.exec_driver_sql(f"PRAGMA cache_size={int(cache)}")
        result.episodes_added = added.rowcount
        result.child_ids = list(conn.execute(
            select(k.child_id).distinct().join(ROWS, r.child_ref == k.child_ref).where(r.recorded == 0)
            .order_by(k.child_id)).scalars())

    conn.execute(insert(AuditRecord.__table__), [{
        "at": now, "actor": actor, "action": "import", "entity": "import", "entity_id": None, "before": None,
        "after": {"sha256": sha.hexdigest(), "rows": result.rows, "episodes_added": result.episodes_added,
                  "episodes_already_recorded": result.episodes_already_recorded,
                  "children_created": result.children_created, "children_updated": result.children_updated}}])
    _drop(conn)
    _notify_clock(ctx, result.child_ids)
    return result


def _notify_clock(ctx: Ctx, child_ids: list[int]) -> None:
    """Let the clock (store/alerts.py, issue 3) react to imported history, if it wants to."""
    if not child_ids:
        return
    try:
        from store import alerts
    except ImportError:  # pragma: no cover - the clock is optional
        return
    hook = getattr(alerts, "on_import", None)
    if hook is not None:
        hook(ctx, child_ids)
