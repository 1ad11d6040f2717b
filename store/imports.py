"""Importing a CSV of past episodes: all or nothing, idempotent, fast.

`import_csv(ctx, data)` parses and checks the file (bot/protocol/csvimport.py), checks it
against what is recorded, and writes everything in the caller's transaction (`ctx.session`)
with bulk inserts: children, episodes, one audit row per child created or updated and one
summary audit row for the import. Any problem raises `Problems` before anything is written.

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
from typing import BinaryIO

from sqlalchemy import insert, select, update

from bot.context import Ctx
from bot.protocol.csvimport import ImportRow, Problems, check_against_existing, parse_csv
from store.models import AuditRecord, Child, Episode

CHILD_FIELDS = ("label", "date_of_birth", "gender", "looked_after", "placement_type", "out_of_area", "placed_by",
                "placed_in")
CHUNK = 500

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
                   "cce_concern", "ri_outcome", "ri_at", "ri_by", "source", "created_at", "updated_at")


def _stored(dialect: str):
    """An aware datetime as `store.models.UTCDateTime` stores it: naive UTC (on SQLite, the text
    SQLAlchemy writes); None stays None."""
    def value(t: datetime | None):
        if t is None:
            return None
        naive = (t if t.tzinfo is timezone.utc else t.astimezone(timezone.utc)).replace(tzinfo=None)
        return naive.isoformat(" ", "microseconds") if dialect == "sqlite" else naive

    return value


def _chunks(items: list, size: int = CHUNK):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _ids_of(session, refs: list[str]):
    """(id, case reference) of the children just created. On PostgreSQL one query, planned for these
    values (not prepared: the driver prepares a statement run five times, and a plan made while the
    table looked empty scans it, 0.1 s a chunk)."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        with conn.connection.driver_connection.cursor() as cur:
            cur.execute("SELECT id, child_ref FROM children WHERE child_ref = ANY(%s)", (refs,), prepare=False)
            yield from cur.fetchall()
        return
    for part in _chunks(refs):
        yield from session.execute(select(Child.id, Child.child_ref).where(Child.child_ref.in_(part)))


def _child_values(row: ImportRow) -> dict:
    return {"label": row.child_label, "date_of_birth": row.date_of_birth, "gender": row.gender,
            "looked_after": row.looked_after, "placement_type": row.placement_type, "out_of_area": row.out_of_area,
            "placed_by": row.placed_by, "placed_in": row.placed_in}


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


def import_csv(ctx: Ctx, data: bytes | BinaryIO) -> ImportResult:
    """Import the file (bytes, or a binary file read as a stream) inside `ctx.session`'s
    transaction; raises `Problems` and writes nothing if any row is bad."""
    session, now, zone = ctx.session, ctx.now, ctx.zone
    if isinstance(data, (bytes, bytearray)):
        sha = hashlib.sha256(data)
        rows = parse_csv(data, zone, now, ctx.protocol.future_grace_minutes)
    else:
        source = _Hashing(data)
        rows = parse_csv(source, zone, now, ctx.protocol.future_grace_minutes)
        sha = source.sha
    latest: dict[str, ImportRow] = {}
    for r in rows:
        if r.child_ref not in latest or r.started_at > latest[r.child_ref].started_at:
            latest[r.child_ref] = r

    # What is recorded for these children.
    children: dict[str, dict] = {}
    for part in _chunks(list(latest)):
        for c in session.execute(select(Child.__table__).where(Child.child_ref.in_(part))).mappings():
            children[c["child_ref"]] = dict(c)
    ref_of = {c["id"]: ref for ref, c in children.items()}
    existing: dict[str, list[tuple[datetime, datetime | None]]] = {}
    for part in _chunks(list(ref_of)):
        q = select(Episode.child_id, Episode.started_at, Episode.returned_at).where(Episode.child_id.in_(part))
        for child_id, started, returned in session.execute(q):
            existing.setdefault(ref_of[child_id], []).append((started, returned))

    new_rows, problems = check_against_existing(rows, existing, zone)
    if problems:
        raise Problems(problems)

    result = ImportResult(rows=len(rows), episodes_already_recorded=len(rows) - len(new_rows))
    actor = ctx.user_id[:32]
    audits: list[dict] = []

    # Children: create the new ones, update the recorded ones whose latest row is newer.
    to_create = [r for ref, r in latest.items() if ref not in children]
    if to_create:
        table = Child.__table__
        session.execute(insert(table), [
            {"child_ref": r.child_ref, **_child_values(r), "worker_user_id": None, "created_at": now, "updated_at": now}
            for r in to_create])
        for child_id, ref in _ids_of(session, [r.child_ref for r in to_create]):
            children[ref] = {"id": child_id, "child_ref": ref}
            audits.append({"at": now, "actor": actor, "action": "child.import", "entity": "child",
                           "entity_id": child_id, "before": None, "after": _json(_child_values(latest[ref]))})
        result.children_created = len(to_create)
    created = {r.child_ref for r in to_create}
    for ref, r in latest.items():
        if ref in created:
            continue
        if any(started >= r.started_at for started, _ in existing.get(ref, [])):
            continue
        after = _child_values(r)
        before = {k: children[ref][k] for k in CHILD_FIELDS}
        changed = {k for k in CHILD_FIELDS if before[k] != after[k]}
        if changed:
            session.execute(update(Child).where(Child.id == children[ref]["id"])
                            .values(**{k: after[k] for k in changed}, updated_at=now))
            audits.append({"at": now, "actor": actor, "action": "child.import_update", "entity": "child",
                           "entity_id": children[ref]["id"], "before": _json({k: before[k] for k in changed}),
                           "after": _json({k: after[k] for k in changed})})
            result.children_updated += 1

    # Episodes, in bulk: the driver's executemany, a chunk at a time, values as the column types
    # store them (what SQLAlchemy's per-row processing did, at a fraction of its cost).
    if new_rows:
        conn = session.connection()
        value = _stored(conn.dialect.name)
        mark = "?" if conn.dialect.name == "sqlite" else "%s"
        sql = f"INSERT INTO episodes ({', '.join(EPISODE_COLUMNS)}) VALUES ({', '.join([mark] * len(EPISODE_COLUMNS))})"
        stamp = value(now)
        if conn.dialect.name == "sqlite":  # the indexes fill in random order: a bigger page cache for this
            cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
            conn.exec_driver_sql("PRAGMA cache_size=-65536")  # 64 MB
        def values(part):
            return [(children[r.child_ref]["id"], r.episode_type, value(r.started_at), r.missing_from, r.placement_type,
                     r.looked_after, r.police_ref, r.risk_grade, actor, value(r.returned_at), r.found_location, r.reason,
                     r.cse_concern, r.cce_concern, r.ri_outcome, value(r.ri_at), "", "import", stamp, stamp)
                    for r in part]

        try:
            if conn.dialect.name == "postgresql":
                # COPY: one stream, not a statement per row; every row still passes the table's
                # constraints (the exclusion constraint against overlaps included) as it goes in.
                import psycopg
                from sqlalchemy.exc import IntegrityError

                copy_sql = f"COPY episodes ({', '.join(EPISODE_COLUMNS)}) FROM STDIN"
                try:
                    with conn.connection.driver_connection.cursor() as cur:
                        with cur.copy(copy_sql) as copy:
                            for part in _chunks(new_rows, 5000):
                                for row in values(part):
                                    copy.write_row(row)
                except psycopg.IntegrityError as exc:  # as SQLAlchemy's would be: what callers catch (a race)
                    raise IntegrityError(copy_sql, None, exc) from exc
            else:
                for part in _chunks(new_rows, 5000):
                    conn.exec_driver_sql(sql, values(part))
        finally:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql(f"PRAGMA cache_size={int(cache)}")
    result.episodes_added = len(new_rows)
    result.child_ids = sorted({children[r.child_ref]["id"] for r in new_rows})

    audits.append({"at": now, "actor": actor, "action": "import", "entity": "import", "entity_id": None,
                   "before": None, "after": {"sha256": sha.hexdigest(), "rows": result.rows,
                                             "episodes_added": result.episodes_added,
                                             "episodes_already_recorded": result.episodes_already_recorded,
                                             "children_created": result.children_created,
                                             "children_updated": result.children_updated}})
    session.execute(insert(AuditRecord.__table__), audits)

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
