"""Signed requests already accepted: each (timestamp, signature) runs once, across processes.

Slack signs `v0:<timestamp>:<body>`, and a signature is only accepted within five minutes of
its timestamp (bot/edge.py), so a row older than that can be forgotten: `forget_old` drops
them, at most once a minute per process. Slack's own retries of an event carry a new
signature; they are recognised by the event's id (`event:<id>`).

`record` is on every request's path, so it costs one INSERT and a commit that does not wait for
the disk: the row is visible to every other process at once (that is what refuses a replay);
only a power cut within the moment after could lose it, and with it the refusal of a replay of
that one request within its five minutes. SQLite: `PRAGMA synchronous=NORMAL` for that one
transaction (in WAL mode a commit then waits for no disk, and, unlike OFF, a checkpoint it triggers
still syncs, so a power cut can never corrupt the database); PostgreSQL: synchronous_commit off
for that one transaction (the same: the WAL stays consistent), which is one statement."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String, delete
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.db import insert_new
from store.models import Base

KEEP = timedelta(minutes=10)  # twice the signature window


class SeenRequest(Base):
    __tablename__ = "seen_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    seen_at: Mapped[datetime] = mapped_column(index=True)


def first_time(session: Session, key: str, now: datetime) -> bool:
    """Record `key`; True when no process has recorded it before."""
    return session.execute(insert_new(session, SeenRequest, keys=["key"], key=key[:100], seen_at=now)).first() is not None


def forget_old(session: Session, now: datetime) -> None:
    session.execute(delete(SeenRequest).where(SeenRequest.seen_at < now - KEEP))


FORGET_EVERY = timedelta(minutes=1)


class Recorder:
    """`record(keys, now)`: True when no process has recorded any of `keys` before; records them.

    On the driver's connection (one pooled connection, no SQLAlchemy statement machinery): this
    runs before every request, so it is kept to the statements themselves."""

    INSERT = "INSERT INTO seen_requests (key, seen_at) VALUES ({p}, {p}) ON CONFLICT (key) DO NOTHING RETURNING id"
    FORGET = "DELETE FROM seen_requests WHERE seen_at < {p}"
    # PostgreSQL: the statement is the transaction (autocommit), and it turns synchronous_commit
    # off for itself (set_config(..., true): this transaction only; read at its commit), so SET
    # LOCAL, BEGIN and COMMIT are not round trips of their own. The keys come as one array.
    NO_WAIT = "WITH nowait AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true) AS v) "
    PG_INSERT = (NO_WAIT + "INSERT INTO seen_requests (key, seen_at) SELECT k, %s FROM unnest(%s::varchar[]) AS k, "
                 "nowait ON CONFLICT (key) DO NOTHING RETURNING id")
    PG_FORGET = NO_WAIT + "DELETE FROM seen_requests WHERE seen_at < %s AND EXISTS (SELECT v FROM nowait)"

    def __init__(self, engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        p = "?" if self.sqlite else "%s"
        self.insert, self.forget = self.INSERT.format(p=p), self.FORGET.format(p=p)
        # Stored as the column type stores it (naive UTC; on SQLite the dialect's text form).
        self.stored = SeenRequest.__table__.c.seen_at.type.dialect_impl(engine.dialect).bind_processor(engine.dialect)
        self.synchronous: int | None = None  # SQLite's setting, read once, put back after each record
        self.forgotten_at: datetime | None = None

    def record(self, keys: list[str], now: datetime) -> bool:
        forget = self.forgotten_at is None or now - self.forgotten_at >= FORGET_EVERY
        seen_at = self.stored(now)
        with self.engine.connect() as conn:
            raw = conn.connection.driver_connection
            if self.sqlite:  # isolation_level None (store/db.py): the statements say when to commit
                if self.synchronous is None:
                    self.synchronous = int(raw.execute("PRAGMA synchronous").fetchone()[0])
                raw.execute("PRAGMA synchronous=NORMAL")  # WAL: no fsync at commit, never corrupting (OFF could)
                try:
                    raw.execute("BEGIN IMMEDIATE")
                    try:
                        new = [raw.execute(self.insert, (k[:100], seen_at)).fetchone() is not None for k in keys]
                        if forget:
                            raw.execute(self.forget, (self.stored(now - KEEP),))
                        raw.execute("COMMIT")
                    except BaseException:
                        raw.execute("ROLLBACK")
                        raise
                finally:
                    raw.execute(f"PRAGMA synchronous={self.synchronous}")
            else:  # psycopg: one statement, its own transaction (autocommit), one round trip
                raw.autocommit = True
                try:
                    with raw.cursor() as cur:
                        cur.execute(self.PG_INSERT, (seen_at, [k[:100] for k in keys]))
                        new = [len(cur.fetchall()) == len(keys)]  # a row for each key that was new
                        if forget:
                            cur.execute(self.PG_FORGET, (self.stored(now - KEEP),))
                finally:
                    raw.autocommit = False
        if forget:
            self.forgotten_at = now
        return all(new)
