"""CSV import: good files, every kind of bad file (line-numbered problems, nothing written), idempotence."""
from __future__ import annotations

import os
import random
import time
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, select

from bot.context import Ctx
from bot.protocol.csvimport import COLUMNS, Problems, parse_csv, parse_datetime
from store import alerts
from store.db import transaction
from store.imports import import_csv
from store.models import AuditRecord, Child, Episode
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
UTC = timezone.utc
HEADER = ",".join(COLUMNS)
NOW = datetime(2026, 11, 19, 10, 0, tzinfo=UTC)  # the conftest clock


def csv_bytes(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def row(child_ref="T100", label="AB", dob="2010-05-31", gender="female", la="Y", placement="foster_care", ooa="N",
        etype="missing", start="2025-06-01 14:30", returned="2025-06-02 09:00", risk="medium", police="PR1",
        found="Park", reason="friends", cse="N", cce="no", ri="", ri_at="",
        missing_from="placement") -> str:
    return ",".join([child_ref, label, dob, gender, la, placement, ooa, etype, missing_from, start, returned, risk,
                     police, found, reason, cse, cce, ri, ri_at])


GOOD = csv_bytes(
    row(ri="completed", ri_at="2025-06-03 10:00"),
    row(start="01/07/2025 22:15", returned="03/07/2025 08:00", ri="declined", ri_at="", found="Bus station",
        cse="Y", placement="semi-independent", etype="A"),
    row(child_ref="T200", label="CD", dob="14/02/2009", gender="M", la="yes", placement="residential",
        start="2025-03-30T01:30:00+01:00", returned="", ri="", ri_at="", found="", risk=""),
)


def counts(services) -> tuple[int, int, int]:
    with services.sessions() as s:
        return (s.scalar(select(func.count()).select_from(Child)), s.scalar(select(func.count()).select_from(Episode)),
                s.scalar(select(func.count()).select_from(AuditRecord)))


def run_import(services, data: bytes, user: str = "cli:tester"):
    with transaction(services.sessions) as session:
        ctx = Ctx(services=services, session=session, user_id=user, channel_id="", now=services.now(), is_admin=True)
        return import_csv(ctx, data)


def problems_of(services, data: bytes) -> list[str]:
    before = counts(services)
    with pytest.raises(Problems) as exc:
        run_import(services, data)
    assert counts(services) == before, "a bad file must write nothing"
    return exc.value.problems


# ------------------------------------------------------------------ parsing

def test_date_forms():
    assert parse_datetime("2025-06-01 14:30", LONDON) == datetime(2025, 6, 1, 13, 30, tzinfo=UTC)  # BST
    assert parse_datetime("01/12/2025 14:30", LONDON) == datetime(2025, 12, 1, 14, 30, tzinfo=UTC)  # GMT
    assert parse_datetime("1/6/2025", LONDON) == datetime(2025, 5, 31, 23, 0, tzinfo=UTC)
    assert parse_datetime("2025-06-01T14:30:00Z", LONDON) == datetime(2025, 6, 1, 14, 30, tzinfo=UTC)
    assert parse_datetime("2025-06-01T14:30+02:00", LONDON) == datetime(2025, 6, 1, 12, 30, tzinfo=UTC)
    for bad in ("2025-13-01", "31/02/2025", "yesterday", "14:30", "2025/06/01", "1e9"):
        with pytest.raises(ValueError):
            parse_datetime(bad, LONDON)


def test_parse_good_file():
    rows = parse_csv(GOOD, LONDON, NOW)
    assert [r.line for r in rows] == [2, 3, 4]
    assert rows[1].episode_type == "away" and rows[1].placement_type == "semi_independent" and rows[1].cse_concern
    assert rows[2].gender == "male" and rows[2].placement_type == "la_residential" and rows[2].returned_at is None
    assert rows[2].date_of_birth == date(2009, 2, 14)
    assert rows[2].started_at == datetime(2025, 3, 30, 0, 30, tzinfo=UTC)


def test_columns_in_any_order_and_only_required_ones():
    data = b"started_at,child_ref\n2025-01-01 10:00,Q1\n"
    [r] = parse_csv(data, LONDON, NOW)
    assert (r.child_ref, r.gender, r.placement_type, r.episode_type, r.looked_after) == ("Q1", "unknown", "other",
                                                                                          "missing", False)


# ------------------------------------------------------------------ writing

def test_import_writes_children_episodes_and_audit(services):
    result = run_import(services, GOOD)
    assert (result.rows, result.episodes_added, result.children_created) == (3, 3, 2)
    with services.sessions() as s:
        t100 = s.scalar(select(Child).where(Child.child_ref == "T100"))
        # details from the latest row (1 July: semi-independent)
        assert (t100.label, t100.placement_type, t100.looked_after, t100.date_of_birth) == (
            "AB", "semi_independent", True, date(2010, 5, 31))
        eps = s.scalars(select(Episode).where(Episode.child_id == t100.id).order_by(Episode.started_at)).all()
        assert [e.placement_type for e in eps] == ["foster_care", "semi_independent"]
        assert eps[0].started_at == datetime(2025, 6, 1, 13, 30, tzinfo=UTC)
        assert eps[0].ri_outcome == "completed" and eps[0].source == "import" and eps[1].episode_type == "away"
        actions = sorted(a.action for a in s.scalars(select(AuditRecord)))
        assert actions == ["child.import", "child.import", "import"]
        summary = s.scalar(select(AuditRecord).where(AuditRecord.action == "import"))
        assert summary.actor == "cli:tester" and summary.after["episodes_added"] == 3


def test_reimport_changes_nothing(services):
    run_import(services, GOOD)
    with services.sessions() as s:
        snapshot = (s.execute(select(Child.__table__)).all(), s.execute(select(Episode.__table__)).all())
    audits = counts(services)[2]
    result = run_import(services, GOOD)
    assert (result.episodes_added, result.episodes_already_recorded, result.children_created,
            result.children_updated) == (0, 3, 0, 0)
    with services.sessions() as s:
        assert (s.execute(select(Child.__table__)).all(), s.execute(select(Episode.__table__)).all()) == snapshot
    assert counts(services)[2] == audits + 1  # only the summary row of the second import


def test_newer_rows_update_the_child_but_old_history_does_not(services):
    run_import(services, GOOD)
    newer = csv_bytes(row(start="2025-08-01 10:00", returned="2025-08-01 12:00", placement="secure", label="AB2",
                               ri="", ri_at=""))
    assert run_import(services, newer).children_updated == 1
    older = csv_bytes(row(start="2024-01-01 10:00", returned="2024-01-01 12:00", placement="home", label="OLD",
                               ri="", ri_at=""))
    assert run_import(services, older).children_updated == 0
    with services.sessions() as s:
        c = s.scalar(select(Child).where(Child.child_ref == "T100"))
        assert (c.placement_type, c.label) == ("secure", "AB2")
        update = s.scalar(select(AuditRecord).where(AuditRecord.action == "child.import_update"))
        assert update.before == {"label": "AB", "placement_type": "semi_independent"}


def test_clock_hook_is_called_with_the_children(services, monkeypatch):
    seen = []
    monkeypatch.setattr(alerts, "on_import", lambda ctx, ids: seen.append((ctx.user_id, ids)), raising=False)
    run_import(services, GOOD)
    with services.sessions() as s:
        ids = sorted(s.scalars(select(Child.id)))
    assert seen == [("cli:tester", ids)]


def test_clock_hook_evaluates_the_same_children_for_few_and_many(services, monkeypatch):
    # More than 500 children are found by the recent and open episodes, fewer by child: the same ones.
    rows = []
    for c in range(520):
        when = ("2026-11-10 10:00", "2026-11-11 10:00") if c % 3 == 0 else ("2024-03-01 10:00", "2024-03-02 10:00")
        rows.append(row(child_ref=f"H{c:03d}", start=when[0], returned="" if c % 5 == 0 else when[1]))
    run_import(services, csv_bytes(*rows[:1]))  # H000, recorded before
    run_import(services, csv_bytes(row(child_ref="OLD1", start="2024-01-01 10:00", returned="2024-01-01 12:00")))
    with services.sessions() as s:
        ref = dict(s.execute(select(Child.id, Child.child_ref)).all())
    expected = sorted(i for i, r in ref.items() if r.startswith("H") and (int(r[1:]) % 3 == 0 or int(r[1:]) % 5 == 0))
    seen = []
    monkeypatch.setattr(alerts, "evaluate_child", lambda session, child_id, env: seen.append(child_id))
    with transaction(services.sessions) as session:
        ctx = Ctx(services=services, session=session, user_id="cli:tester", channel_id="", now=services.now(),
                  is_admin=True)
        alerts.on_import(ctx, sorted(ref))  # few: 2 children
        few, seen[:] = list(seen), []
        assert few == expected
        import_csv(ctx, csv_bytes(*rows[1:]))  # many: 519 children given episodes, OLD1 not among them
    with services.sessions() as s:
        ref = dict(s.execute(select(Child.id, Child.child_ref)).all())
    expected = sorted(i for i, r in ref.items() if r.startswith("H") and r != "H000"
                      and (int(r[1:]) % 3 == 0 or int(r[1:]) % 5 == 0))
    assert len(expected) > 200 and seen == expected


# ------------------------------------------------------------------ bad files write nothing

def test_wrong_headers(services):
    p = problems_of(services, b"child,start\nX,2025-01-01\n")
    assert p[0].startswith("line 1, header: unknown column(s) 'child', 'start'")
    assert "line 1, header: required column(s) missing: child_ref, started_at" in p
    assert problems_of(services, b"")[0].startswith("line 1, header: the file is empty; the first line must name")
    assert problems_of(services, HEADER.encode() + b"\n") == ["line 2, file: no rows after the header"]
    assert "given twice" in problems_of(services, b"child_ref,started_at,child_ref\n")[0]
    assert "semicolons" in problems_of(services, b"child_ref;started_at\nX;2025-01-01\n")[0]


def test_bad_values_are_all_reported_with_line_and_column(services):
    data = csv_bytes(
        row(start="2025-02-30 10:00"),
        row(child_ref="T2", dob="31/31/2010", gender="robot", placement="castle", risk="extreme", etype="lost"),
        row(child_ref="T3", la="maybe", ri="finished", ri_at="2025-06-03 10:00"),
        row(child_ref="T4", returned="2025-05-01 10:00"),
        row(child_ref="", start="2025-06-01"),
        "T6,too,few",
    )
    p = problems_of(services, data)
    assert "line 2, started_at: '2025-02-30 10:00' is not a date (use 2025-06-01 14:30 or 01/06/2025 14:30)" in p
    for expected in ("line 3, date_of_birth:", "line 3, gender: unknown value 'robot'",
                     "line 3, placement_type: unknown value 'castle'; use one of: la_residential",
                     "line 3, risk_grade: unknown value 'extreme'", "line 3, episode_type: unknown value 'lost'",
                     "line 4, looked_after: 'maybe' is not yes or no", "line 4, ri_outcome: unknown value 'finished'",
                     "line 5, returned_at: the return is before the start", "line 6, child_ref: required",
                     "line 7, row: 3 values for 19 columns"):
        assert any(x.startswith(expected) for x in p), (expected, p)


def test_future_dates(services):
    p = problems_of(services, csv_bytes(row(start="2026-11-19 10:30", returned="", ri="", ri_at=""),
                                        row(child_ref="T2", returned="2027-01-01 10:00", ri="", ri_at="")))
    assert p == ["line 2, started_at: 2026-11-19 10:30 is in the future",
                 "line 3, returned_at: 2027-01-01 10:00 is in the future"]


def test_overlapping_episodes_in_the_file(services):
    p = problems_of(services, csv_bytes(
        row(start="2025-06-01 10:00", returned="2025-06-03 10:00"),
        row(start="2025-06-02 10:00", returned="2025-06-02 12:00"),  # inside line 2
        row(start="2025-07-01 10:00", returned="", ri="", ri_at=""),  # open ...
        row(start="2025-08-01 10:00", returned="2025-08-01 12:00"),  # ... so this starts while it is open
        row(start="2025-06-01 10:00", returned="2025-06-01 11:00"),  # same episode as line 2
    ))
    assert p == ["line 3, started_at: starts while the episode on line 2 has not ended by then",
                 "line 5, started_at: starts while the episode on line 4 is still open",
                 "line 6, started_at: the same episode (child_ref and started_at) is on line 2"]


def test_overlap_with_recorded_episodes(services):
    run_import(services, GOOD)  # T100: 1 Jun 14:30 - 2 Jun 09:00, 1 Jul 22:15 - 3 Jul 08:00; T200 open since 30 Mar
    p = problems_of(services, csv_bytes(
        row(start="2025-06-02 08:00", returned="2025-06-02 10:00"),
        row(start="2025-06-30 10:00", returned="2025-07-02 10:00"),
        row(child_ref="T200", start="2025-05-01 10:00", returned="2025-05-01 11:00"),
    ))
    assert p == ["line 2, started_at: starts while an episode already recorded for T100 (started 2025-06-01 14:30) "
                 "has not ended by then",
                 "line 3, returned_at: the episode overlaps one already recorded for T100 (started 2025-07-01 22:15)",
                 "line 4, started_at: starts while an episode already recorded for T200 (started 2025-03-30 00:30) "
                 "is still open"]


def fails_fast(services, data: bytes) -> list[str]:
    t0 = time.perf_counter()
    p = problems_of(services, data)
    assert time.perf_counter() - t0 < 3
    return p


def test_ten_megabytes_of_junk(services):
    rnd = random.Random(5)
    p = fails_fast(services, rnd.randbytes(10 * 2**20))
    assert len(p) == 1 and p[0].startswith("line 1, file: this is not a CSV text file") or "not UTF-8" in p[0]
    printable = bytes(b"abcdefgh,;\"' "[i % 13] for i in range(256))
    p = fails_fast(services, rnd.randbytes(10 * 2**20).translate(printable))
    assert len(p) == 1 and p[0].startswith("line 1, ")
    lines = bytes(b"xyz,0123/:\n"[i % 11] for i in range(256))
    p = fails_fast(services, HEADER.encode() + b"\n" + rnd.randbytes(10 * 2**20).translate(lines))
    assert len(p) == 51 and p[0].startswith("line 2, ") and p[-1].startswith("stopped after 50 problems")
    p = fails_fast(services, HEADER.encode() + b"\n" + b"x" * (10 * 2**20))
    assert p == ["line 2, file: the line is longer than 4096 characters; is this the right file?"]


def test_size_cap(services, monkeypatch):
    import bot.protocol.csvimport as ci

    monkeypatch.setattr(ci, "MAX_BYTES", 1000)
    p = fails_fast(services, csv_bytes(*[row(child_ref=f"T{i}") for i in range(20)]))
    assert p[0].startswith("line 1, file: the file is 0 MB; the limit is 0 MB")


@pytest.mark.skipif(not os.environ.get("IMPORT_BENCH"), reason="set IMPORT_BENCH=1 for the 100,000-row timing")
def test_hundred_thousand_rows_fast(services, tmp_path):
    from benchmarks.import_bench import make_csv

    data = make_csv(100_000)
    t0 = time.perf_counter()
    result = run_import(services, data)
    assert result.episodes_added == 100_000 and time.perf_counter() - t0 < 60


def test_out_of_range_and_implausible_dates_are_line_numbered_problems(services):
    # Year 1 with an offset overflowed the UTC conversion (a stack trace, not a problem), and a
    # year-1 date without one was accepted as history.
    p = problems_of(services, csv_bytes(
        row(start="0001-01-01T00:00+05:00", returned="", ri="", ri_at=""),
        row(child_ref="T2", start="01/01/0001 10:00", returned="", ri="", ri_at=""),
        row(child_ref="T3", dob="0001-01-01"),
    ))
    assert [x.split(":")[0] for x in p] == ["line 2, started_at", "line 3, started_at", "line 4, date_of_birth"], p
    with pytest.raises(Problems):
        parse_csv(b"child_ref,started_at\nA,0001-01-01 00:00\n", ZoneInfo("Europe/Paris"), NOW)


def test_a_nul_byte_after_the_first_64_kb_is_a_line_numbered_problem(services):
    # PostgreSQL refuses text containing NUL (a crash mid-import) and SQLite would store it: refuse the file.
    good = [row(child_ref=f"N{i:04d}") for i in range(700)]  # about 75 KB
    assert len("\n".join(good)) > 65536
    bad = row(child_ref="N9999", reason="friends\x00")
    p = problems_of(services, csv_bytes(*good, bad))
    assert p == ["line 702, file: contains a NUL character (binary data); is this the right file?"]


def test_a_label_with_slack_markup_is_refused_like_in_slack(services):
    # Labels appear in channel alerts: an imported one may not ping the channel or a person.
    p = problems_of(services, csv_bytes(row(label="<!channel>"), row(child_ref="T2", label="J.B. (sib 2)")))
    assert p == ["line 2, child_label: initials or a pseudonym: letters, digits, spaces and . ' - ( ) / only (e.g. JB)"]


def test_each_imported_episode_keeps_the_looked_after_of_its_row(services):
    data = csv_bytes(row(la="N", start="2025-01-05 10:00", returned="2025-01-05 20:00"),
                     row(la="Y", start="2025-06-01 14:30", returned="2025-06-02 09:00"))
    run_import(services, data)
    with services.sessions() as s:
        flags = [e.looked_after for e in s.scalars(select(Episode).order_by(Episode.started_at))]
        child = s.scalar(select(Child))
    assert flags == [False, True] and child.looked_after is True  # the child's details: its latest row
