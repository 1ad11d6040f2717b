"""The replay record on every request's path (store/requests.py, issue 14): one INSERT whose commit
does not wait for the disk, old rows forgotten once a minute, and the connection left as it was."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from store.db import make_engine
from store.requests import Recorder, SeenRequest

NOW = datetime(2026, 11, 19, 10, 0, tzinfo=timezone.utc)


def test_a_key_is_new_once_and_the_connection_keeps_its_durability(db_url):
    engine = make_engine(db_url)
    recorder = Recorder(engine)
    with engine.connect() as conn:
        before = conn.exec_driver_sql("PRAGMA synchronous" if engine.dialect.name == "sqlite"
                                      else "SHOW synchronous_commit").scalar()
    assert recorder.record(["sig:a"], NOW)
    assert not recorder.record(["sig:a"], NOW + timedelta(seconds=1))
    assert not Recorder(engine).record(["sig:b", "sig:a"], NOW)  # another process: any key seen = a replay
    with engine.connect() as conn:
        after = conn.exec_driver_sql("PRAGMA synchronous" if engine.dialect.name == "sqlite"
                                     else "SHOW synchronous_commit").scalar()
        if engine.dialect.name == "postgresql":  # the record ran in autocommit; the pool's connection does not
            assert conn.connection.driver_connection.autocommit is False
    assert after == before
    engine.dispose()


def test_old_rows_are_forgotten_at_most_once_a_minute(db_url):
    engine = make_engine(db_url)
    recorder = Recorder(engine)

    def rows() -> int:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(SeenRequest))

    assert recorder.record(["sig:old"], NOW)
    assert recorder.record(["sig:new"], NOW + timedelta(minutes=10, seconds=30))  # forgets sig:old
    assert rows() == 1
    assert recorder.record(["sig:newer"], NOW + timedelta(minutes=21))  # new, and sig:new is old now
    assert recorder.record(["sig:last"], NOW + timedelta(minutes=21, seconds=20))  # within the minute: kept
    assert rows() == 2
    engine.dispose()
