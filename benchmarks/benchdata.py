"""An invented history for the benchmarks, loaded fast (bulk executemany on SQLite, COPY on PostgreSQL).

`fill(url, episodes)` empties the database, migrates it and loads `episodes` episodes of
`episodes // 10` children (ten each, a month apart, over the last year or so), with every code
the figures count (genders, placement types, durations, outcomes, where found, concerns). What
the clock and `/missing open|due` look at is the same at every size: OPEN children missing now
and OWED recent returns still owed an interview; everything older has its interview outcome.
Every value is arithmetic on the row number: no randomness, the same data every run."""
from __future__ import annotations

import io
import time
from datetime import date, datetime, timedelta, timezone

from bot.protocol.words import GENDERS, PLACEMENT_TYPES

EPISODES_PER_CHILD = 10
OPEN = 20  # children missing now, at every size
OWED = 40  # recent returns without an interview outcome, at every size
FOUND_AT = ("Park", "Town centre", "Friend's house", "Bus station", "", "Relative's home", "park", "Shopping centre")
HOURS = (2, 5, 9, 20, 30, 80, 200)
OUTCOMES = ("completed", "completed", "completed", "declined", "voided", "completed")

CHILD_COLUMNS = ("id", "child_ref", "label", "date_of_birth", "gender", "looked_after", "placement_type", "out_of_area",
                 "worker_user_id", "created_at", "updated_at")
EPISODE_COLUMNS = ("id", "child_id", "episode_type", "started_at", "missing_from", "placement_type", "looked_after",
                   "police_ref", "risk_grade", "reported_by", "returned_at", "found_location", "reasons", "cse_concern",
                   "cce_concern", "ri_outcome", "ri_at", "ri_by", "returned_by", "source", "created_at",
                   "updated_at")


def child_ref(i: int) -> str:
    return f"B{i:07d}"


def children_rows(n: int, now: datetime):
    for i in range(n):
        dob = date(2008, 1, 1) + timedelta(days=(i * 37) % 3650)
        yield (i + 1, child_ref(i), "ZZ", dob, GENDERS[i % len(GENDERS)], i % 3 != 0,
               PLACEMENT_TYPES[i % len(PLACEMENT_TYPES)], False, None, now, now)


def episode_rows(n_children: int, now: datetime):
    """Ten episodes per child, the latest first; the first OPEN children are missing now and the
    next OWED returned recently with no interview outcome yet."""
    eid = 0
    for i in range(n_children):
        placement = PLACEMENT_TYPES[i % len(PLACEMENT_TYPES)]
        for k in range(EPISODES_PER_CHILD):
            eid += 1
            started = now - timedelta(days=40 + 33 * k + i % 29, hours=i % 24, minutes=(i * 7 + k) % 60)
            hours = HOURS[(i + k) % len(HOURS)]
            returned = started + timedelta(hours=hours)
            outcome = OUTCOMES[(i + 3 * k) % len(OUTCOMES)]
            ri_at = returned + timedelta(hours=1 + (i * 13 + k) % 120)
            if k == 0 and i < OPEN:
                started, returned, outcome, ri_at = now - timedelta(hours=1 + i), None, None, None
            elif k == 0 and i < OPEN + OWED:
                started = now - timedelta(hours=20 + 3 * i)
                returned, outcome, ri_at = started + timedelta(hours=5), None, None
            yield (eid, i + 1, "away" if (i + k) % 9 == 0 else "missing", started, "placement",
                   PLACEMENT_TYPES[(i + k // 4) % len(PLACEMENT_TYPES)] if k % 4 == 3 else placement, i % 3 != 0,
                   "", ("low", "medium", "high", "no_apparent_risk")[(i + k) % 4], "UIMPORT", returned,
                   FOUND_AT[(i + k) % len(FOUND_AT)] if returned else "", "", (i + k) % 11 == 0, (i + 2 * k) % 13 == 0,
                   outcome, ri_at, "", "", "import", returned or started, returned or started)


def _sqlite_value(v):
    if isinstance(v, datetime):
        return v.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, date):
        return v.isoformat()
    return v


def _copy_value(v) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, datetime):
        return v.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def reset(url: str) -> None:
    """An empty, migrated database at `url`."""
    from sqlalchemy import create_engine, text

    from store.db import upgrade

    if url.startswith("sqlite"):
        from pathlib import Path

        path = Path(url.split("///", 1)[1])
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    else:
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        eng = create_engine(url)
        with eng.begin() as c:
            c.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        eng.dispose()
    upgrade(url)


def fill(url: str, episodes: int, now: datetime | None = None) -> float:
    """Empty the database at `url`, migrate it and load the history; returns the seconds it took."""
    from sqlalchemy import create_engine, text

    now = now or datetime.now(timezone.utc)
    n_children = max(OPEN + OWED + 1, episodes // EPISODES_PER_CHILD)
    t0 = time.perf_counter()
    if url.startswith("sqlite"):
        import sqlite3
        from pathlib import Path

        path = Path(url.split("///", 1)[1])
        reset(url)
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("PRAGMA cache_size=-1000000")  # 1 GB: the indexes fill in random order
        con.execute("BEGIN")
        con.executemany(f"INSERT INTO children ({','.join(CHILD_COLUMNS)}) VALUES ({','.join('?' * len(CHILD_COLUMNS))})",
                        (tuple(map(_sqlite_value, r)) for r in children_rows(n_children, now)))
        con.executemany(f"INSERT INTO episodes ({','.join(EPISODE_COLUMNS)}) VALUES "
                        f"({','.join('?' * len(EPISODE_COLUMNS))})",
                        (tuple(map(_sqlite_value, r)) for r in episode_rows(n_children, now)))
        con.execute("COMMIT")
        con.close()
    else:
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        reset(url)
        eng = create_engine(url)
        with eng.begin() as c:
            cur = c.connection.driver_connection.cursor()
            for table, columns, rows in (("children", CHILD_COLUMNS, children_rows(n_children, now)),
                                         ("episodes", EPISODE_COLUMNS, episode_rows(n_children, now))):
                with cur.copy(f"COPY {table} ({','.join(columns)}) FROM STDIN") as copy:
                    buf = io.StringIO()
                    for j, r in enumerate(rows):
                        buf.write("\t".join(map(_copy_value, r)) + "\n")
                        if j % 50000 == 49999:
                            copy.write(buf.getvalue())
                            buf = io.StringIO()
                    copy.write(buf.getvalue())
            for table in ("children", "episodes"):
                c.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
        with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))
        eng.dispose()
    return time.perf_counter() - t0
