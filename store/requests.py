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
still syncs, so a power cut can never corrupt the database); PostgreSQL: `SET LOCAL
synchronous_commit = off` (the same: the WAL stays consistent)."""
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
    """`record(keys, now)`: True when no process has recorded any of `keys` before; records them."""

    def __init__(self, engine) -> None:
        from sqlalchemy import bindparam

        if engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self.insert = (insert(SeenRequest).values(key=bindparam("key"), seen_at=bindparam("seen_at"))
                       .on_conflict_do_nothing(index_elements=["key"]).returning(SeenRequest.id))
        self.synchronous: int | None = None  # SQLite's setting, read once, put back after each record
        self.forgotten_at: datetime | None = None

    def record(self, keys: list[str], now: datetime) -> bool:
        with self.engine.connect() as conn:
            if self.sqlite:  # outside a transaction, as SQLite requires (so on the driver's connection)
                raw = conn.connection.driver_connection
                if self.synchronous is None:
                    self.synchronous = int(raw.execute("PRAGMA synchronous").fetchone()[0])
                raw.execute("PRAGMA synchronous=NORMAL")  # WAL: no fsync at commit, never corrupting (OFF could)
            try:
                with conn.begin():
                    if not self.sqlite:
                        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                    new = [conn.execute(self.insert, {"key": k[:100], "seen_at": now}).first() is not None for k in keys]
                    if self.forgotten_at is None or now - self.forgotten_at >= FORGET_EVERY:
                        conn.execute(delete(SeenRequest).where(SeenRequest.seen_at < now - KEEP))
                        self.forgotten_at = now
            finally:
                if self.sqlite:
                    raw.execute(f"PRAGMA synchronous={self.synchronous}")
        return all(new)
