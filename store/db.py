"""Engine, sessions and migrations."""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

HERE = Path(__file__).resolve().parent


def make_engine(url: str, **kwargs) -> Engine:
    if url.startswith("sqlite"):
        # One connection per process: SQLite has one writer at a time anyway, and threads queue
        # for the pool (no busy-wait sleeps) instead of polling the database lock.
        kwargs.setdefault("pool_size", 1) if "poolclass" not in kwargs else None
        kwargs.setdefault("max_overflow", 0) if "poolclass" not in kwargs else None
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True,
                               **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        # pysqlite's own transaction handling defers BEGIN; take the write lock at BEGIN
        # so two processes never interleave a read-then-write.
        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn, _record):  # pragma: no cover - trivial
            dbapi_conn.isolation_level = None

        # Reads (`make_sessionmaker(engine, read_only=True)`) take no write lock and no transaction:
        # each statement reads a snapshot of its own in WAL mode while another process writes (as
        # on PostgreSQL, where reads run in autocommit); no BEGIN and COMMIT to pay for.
        @event.listens_for(engine, "begin")
        def _begin_immediate(conn):  # pragma: no cover - trivial
            if not conn.get_execution_options().get(READ_ONLY):
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_engine(url, hide_parameters=True, **kwargs)
    _ping_when_idle(engine)
    return engine


# A pooled connection that sat idle this long is checked before use (the server may have
# restarted, or a firewall dropped it); a busy one is not: pool_pre_ping's round trip on every
# checkout cost as much as the query it guarded.
PING_IDLE_SECONDS = 10.0


def _ping_when_idle(engine: Engine) -> None:
    from sqlalchemy import exc

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_conn, record):  # pragma: no cover - trivial
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_conn, record, proxy):
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < PING_IDLE_SECONDS:
            return
        try:
            ok = engine.dialect.do_ping(dbapi_conn)
        except Exception:  # noqa: BLE001 - any failure means the connection is gone
            ok = False
        if not ok:
            # The pool discards this connection and checks out a fresh one.
            raise exc.DisconnectionError("pooled connection went away while idle")


def insert_new(session: Session, model, *, keys: list[str], **values):
    """INSERT ... ON CONFLICT (keys) DO NOTHING RETURNING id, on PostgreSQL or SQLite: the way to add a
    row that another process may be adding at the same moment. Execute it; a row means it went in."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(model).values(**values).on_conflict_do_nothing(index_elements=keys).returning(model.id)


_ADD_NEW: dict = {}


def add_new(session: Session, model, values: dict, *, keys: tuple[str, ...] = ("key",)) -> int | None:
    """`insert_new` executed: the new row's id, or None when a row with those `keys` was there.
    The statement is built once per table and database (on the table, with the values as
    parameters): building an INSERT ... ON CONFLICT with its values cost more than running it,
    on every change's path (outbox rows, alerts)."""
    dialect = session.get_bind().dialect.name
    stmt = _ADD_NEW.get((dialect, model, keys))
    if stmt is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        table = model.__table__
        stmt = _ADD_NEW[(dialect, model, keys)] = (insert(table).on_conflict_do_nothing(index_elements=list(keys))
                                                    .returning(table.c.id))
    return session.execute(stmt, values).scalar()


READ_ONLY = "missing_read_only"


def make_sessionmaker(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions on `engine`. `read_only=True`: for commands that only read (status, open, due):
    no transaction at all (autocommit on both databases: no BEGIN and COMMIT, no write lock). Such a session refuses to write."""
    if read_only:
        bind = engine.execution_options(**{READ_ONLY: True} if engine.dialect.name == "sqlite"
                                        else {READ_ONLY: True, "isolation_level": "AUTOCOMMIT"})
        factory = sessionmaker(bind, expire_on_commit=False, info={READ_ONLY: True})
        event.listen(factory, "do_orm_execute", _refuse_writes)
        event.listen(factory, "before_flush", _refuse_flush)
    else:
        factory = sessionmaker(engine, expire_on_commit=False)
    event.listen(factory, "do_orm_execute", _live_episodes_only)
    return factory


class ReadOnlySession(RuntimeError):
    """A read-only session was asked to write: the command should not be registered read-only."""


def _refuse_writes(state) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnlySession("a read-only session was asked to write")


def _refuse_flush(session, flush_context, instances) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlySession("a read-only session was asked to write")


# An episode recorded in error is withdrawn, never deleted: it stays for the audit and counts for
# nothing. Rather than trust every query (status, due, open, the clock, agendas, figures, returns,
# import) to remember that, every ORM statement on these sessions reads live episodes only. The
# few places that deal with withdrawn episodes on purpose (withdraw itself, the audit, subject
# access) ask for them with `.execution_options(include_withdrawn=True)`.
INCLUDE_WITHDRAWN = "include_withdrawn"


LIVE_APPLIED = "missing_live_applied"


def live_only(statement):
    """`statement` with the live-episodes criteria applied once, for a statement built once at
    import (a hot path): the sessions' hook then has nothing to add to it on each execution."""
    from sqlalchemy.orm import with_loader_criteria

    from store.models import Episode

    return statement.options(with_loader_criteria(Episode, Episode.withdrawn_at.is_(None), include_aliases=True)
                             ).execution_options(**{LIVE_APPLIED: True})


def _live_episodes_only(state) -> None:
    if state.is_select or state.is_update or state.is_delete:
        options = state.execution_options
        if options.get(INCLUDE_WITHDRAWN, False) or options.get(LIVE_APPLIED, False):
            return
        state.statement = live_only(state.statement)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session:
        with session.begin():
            yield session


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


HEAD = "0014"  # the latest migration's revision (tests/test_migrations.py: it is Alembic's one head)


def at_head(engine: Engine) -> bool:
    """Whether the database is already at HEAD: one read, without loading Alembic (a fifth of a
    second, with every module of the schema, on each start of a command on SQLite)."""
    from sqlalchemy import exc

    try:
        with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == [HEAD]
    except exc.DBAPIError:  # no such table: a new database
        return False


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)
