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
