"""Import reads a file as a stream (issue 14): any size, a little at a time, lines split anywhere."""
from __future__ import annotations

import io

import pytest

from bot.protocol import csvimport as ci
from tests.test_import import GOOD, LONDON, NOW, csv_bytes, row


class Reader(io.BytesIO):
    """A file that records how much was asked of it at once."""

    biggest = 0

    def read(self, n=-1):
        Reader.biggest = max(Reader.biggest, n if n >= 0 else 1 << 62)
        return super().read(n)


@pytest.mark.parametrize("size", [1, 3, 7, 64, 1 << 16])
@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_a_stream_gives_the_rows_of_the_same_bytes(monkeypatch, size, ending):
    monkeypatch.setattr(ci, "READ", size)
    data = GOOD.replace(b"\n", ending)
    Reader.biggest = 0
    streamed = ci.parse_csv(Reader(data), LONDON, NOW)
    assert Reader.biggest == size  # never the whole file at once
    assert streamed == ci.parse_csv(data, LONDON, NOW)


def test_problems_in_a_stream_name_their_lines(monkeypatch):
    monkeypatch.setattr(ci, "READ", 5)
    data = csv_bytes(row(), row(start="2025-06-03 10:00", returned="2025-06-04 10:00"), row(start="yesterday"))
    with pytest.raises(ci.Problems) as exc:
        ci.parse_csv(Reader(data), LONDON, NOW)
    assert exc.value.problems[0].startswith("line 4, started_at:")
    bad = csv_bytes(row(), row(start="2025-06-03 10:00", returned="2025-06-04 10:00")) + b"\xff\xfe,x\n"
    with pytest.raises(ci.Problems) as exc:
        ci.parse_csv(Reader(bad), LONDON, NOW)
    assert exc.value.problems == ["line 4, file: not UTF-8 text (save the file as CSV UTF-8)"]


def test_a_line_too_long_is_refused_before_it_is_held(monkeypatch):
    monkeypatch.setattr(ci, "READ", 1024)
    huge = csv_bytes(row()) + b"x" * (40 * ci.MAX_LINE)
    Reader.biggest = 0
    with pytest.raises(ci.Problems) as exc:
        ci.parse_csv(Reader(huge), LONDON, NOW)
    assert exc.value.problems[0].startswith("line 3, file: the line is longer than")


@pytest.mark.parametrize("zone", ["Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu",
                                  "America/St_Johns", "Pacific/Chatham"])
def test_local_times_read_as_zoneinfo_reads_them_around_the_clock_changes(zone):
    # parse_datetime converts without an aware intermediate (for speed): it must agree with zoneinfo
    # every quarter of an hour through each day the clocks change, gaps and repeated hours included.
    from datetime import datetime, timedelta, timezone
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    days = set()
    t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    while t.year < 2026:  # the days whose offset at noon differs from the day before's
        if tz.utcoffset(t.replace(tzinfo=None)) != tz.utcoffset((t - timedelta(days=1)).replace(tzinfo=None)):
            days.add((t - timedelta(days=1)).date())
        t += timedelta(days=1)
    assert len(days) >= 4 or zone == "Asia/Kathmandu"
    days.add(datetime(2025, 6, 1).date())
    for day in sorted(days):
        for quarter in range(4 * 48):
            wall = datetime(day.year, day.month, day.day) + timedelta(minutes=15 * quarter)
            expected = wall.replace(tzinfo=tz).astimezone(timezone.utc)
            for text in (wall.strftime("%Y-%m-%d %H:%M"), wall.strftime("%d/%m/%Y %H:%M")):
                got = ci.parse_datetime(text, tz)
                assert got == expected and got.tzinfo is timezone.utc, (text, got, expected)


def test_day_first_times_read_as_the_pattern_reads_them():
    # 01/06/2025 14:30 has a quicker path than the pattern: the same answer or refusal for near misses too.
    import random
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    from bot.protocol.rules import EARLIEST_YEAR

    tz = ZoneInfo("Europe/London")

    def by_pattern(text):
        m = ci._DMY.fullmatch(text)
        if not m:
            raise ValueError
        d, mo, y, hh, mm, ss = m.groups()
        wall = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0))
        if wall.year < EARLIEST_YEAR:
            raise ValueError
        return wall.replace(tzinfo=tz).astimezone(timezone.utc)

    rnd = random.Random(14)
    texts = ["01/06/2025 14:30", "31/12/2025T23:59", "29/02/2024 00:00", "29/02/2025 10:00", "00/01/2025 10:00",
             "01/13/2025 10:00", "01/06/2025 24:00", "01/06/2025 10:60", "01/06/1899 10:00", "0١/06/2025 14:30",
             "01/06/2025 1٤:30", "01/06/2025_14:30", "01-06-2025 14:30", "1/6/2025 14:30:00", "01/06/2025 14:3 "]
    for _ in range(3000):
        t = list(texts[0])
        for _ in range(rnd.randint(1, 3)):
            t[rnd.randrange(16)] = rnd.choice("0123456789/ T:-x")
        texts.append("".join(t))
    for text in texts:
        try:
            expected = by_pattern(text)
        except ValueError:
            expected = ValueError
        try:
            got = ci.parse_datetime(text, tz)
        except ValueError:
            got = ValueError
        assert got == expected, text


# ------------------------------------------------------------------ the import itself, a chunk at a time

def _snapshot(services, audits_after: int = 0):
    from sqlalchemy import select

    from store.models import AuditRecord, Child, Episode

    with services.sessions() as s:
        children = [c[1:] for c in s.execute(select(Child.__table__).order_by(Child.id))]  # no ids
        episodes = [e[2:] for e in s.execute(select(Episode.__table__).order_by(Episode.id))]
        audits = sorted(str((a.action, a.before, a.after)) for a in s.scalars(
            select(AuditRecord).where(AuditRecord.id > audits_after)))
        last = s.scalar(select(AuditRecord.id).order_by(AuditRecord.id.desc()).limit(1))
    return children, episodes, audits, last


def _history(children: int, each: int, **changes) -> bytes:
    rows = []
    for c in range(children):
        for e in range(each):
            day = 1 + 3 * e
            rows.append(row(child_ref=f"S{c:03d}", label=f"L{c}", start=f"2025-03-{day:02d} 10:00",
                            returned=f"2025-03-{day:02d} 18:00", ri="", ri_at="", la="Y" if e % 2 else "N",
                            **changes))
    return csv_bytes(*rows)


def test_small_chunks_and_pages_write_what_one_chunk_writes(services, monkeypatch):
    # Staging a chunk at a time and reading back a page at a time must not change what is written.
    from store import imports
    from tests.test_import import run_import

    first, newer = _history(7, 3), _history(7, 1, placement="secure", dob="2011-01-01").replace(
        b"2025-03-01", b"2025-05-01")
    run_import(services, first)
    run_import(services, newer)
    whole = _snapshot(services)
    with services.sessions.begin() as s:  # start again (the audit log keeps its rows)
        from sqlalchemy import delete

        from store.models import Child, Episode
        s.execute(delete(Episode))
        s.execute(delete(Child))
    monkeypatch.setattr(imports, "CHUNK", 2)
    monkeypatch.setattr(imports, "PAGE", 2)
    run_import(services, first)
    result = run_import(services, newer)
    assert (result.children_updated, result.episodes_added) == (7, 7)
    chunked = _snapshot(services, audits_after=whole[3])
    assert chunked[:3] == whole[:3]


def test_the_audit_of_a_created_child_is_its_latest_row(services):
    from sqlalchemy import select

    from store.models import AuditRecord, Child
    from tests.test_import import run_import

    run_import(services, GOOD)
    with services.sessions() as s:
        after = {s.get(Child, a.entity_id).child_ref: a.after
                 for a in s.scalars(select(AuditRecord).where(AuditRecord.action == "child.import"))}
    assert after == {
        "T100": {"label": "AB", "date_of_birth": "2010-05-31", "gender": "female", "looked_after": True,
                 "placement_type": "semi_independent", "out_of_area": False, "placed_by": None, "placed_in": None},
        "T200": {"label": "CD", "date_of_birth": "2009-02-14", "gender": "male", "looked_after": True,
                 "placement_type": "la_residential", "out_of_area": False, "placed_by": None, "placed_in": None}}
    assert after["T100"]["looked_after"] is True and after["T100"]["out_of_area"] is False


def test_no_staging_table_outlives_an_import(services):
    from sqlalchemy import text

    from bot.context import Ctx
    from store.db import transaction
    from store.imports import import_csv

    with transaction(services.sessions) as session:
        ctx = Ctx(services=services, session=session, user_id="cli:t", channel_id="", now=services.now(), is_admin=True)
        import_csv(ctx, GOOD)
        if session.get_bind().dialect.name == "postgresql":
            left = session.execute(text("SELECT to_regclass('pg_temp.import_rows'), to_regclass('pg_temp.import_children')")).one()
            assert left == (None, None)
        else:
            assert session.execute(text("SELECT name FROM sqlite_temp_master")).all() == []


def test_problems_across_rows_are_bounded_the_first_by_line_and_the_rest_counted(services):
    from tests.test_import import problems_of, run_import

    # 120 rows, each the same episode as the row before it: 119 problems, the first 50 shown.
    same = csv_bytes(*[row(child_ref="D1", ri="", ri_at="") for _ in range(120)])
    with pytest.raises(ci.Problems) as exc:
        run_import(services, same)
    assert exc.value.total == 119
    p = problems_of(services, same)
    assert len(p) == ci.MAX_PROBLEMS + 1
    assert p[0] == "line 3, started_at: the same episode (child_ref and started_at) is on line 2"
    assert p[49].startswith("line 52, ") and p[50] == "and 69 more problem(s) after line 52; fix these and try again"
    # against the record: 60 children each overlapping its recorded episode
    run_import(services, _history(60, 1))
    p = problems_of(services, _history(60, 1).replace(b"2025-03-01 10:00", b"2025-03-01 11:00"))
    assert len(p) == ci.MAX_PROBLEMS + 1 and p[-1] == "and 10 more problem(s) after line 51; fix these and try again"
    assert p[0].startswith("line 2, started_at: starts while an episode already recorded for S000")


def test_bad_rows_and_problems_across_rows_are_listed_together_within_the_bound(services):
    from tests.test_import import problems_of

    data = csv_bytes(row(start="yesterday"), *[row(child_ref="D2", ri="", ri_at="") for _ in range(60)])
    p = problems_of(services, data)
    assert p[0].startswith("line 2, started_at: 'yesterday' is not a date")
    assert p[1] == "line 4, started_at: the same episode (child_ref and started_at) is on line 3"
    assert len(p) == ci.MAX_PROBLEMS + 1 and p[-1].startswith("and 10 more problem(s) after line 52")
