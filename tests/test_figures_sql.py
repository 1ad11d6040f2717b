"""The report's per-episode keys computed in SQL are the protocol's own (issue 14).

`missing-bot report` (and `/missing stats`) has the database compute each episode's keys
(store/figures.py `stream_packed`: local month, age band, duration, return interview status...)
numbered and packed as `pack_keys` packs them, and tallies them with `tally_packed`. The
definition is `episode_keys` in bot/protocol/figures.py: here both run over the same recorded
episodes, on SQLite and on PostgreSQL, including the edges (clocks changing, a start one
microsecond before local midnight, durations and interviews exactly on their limits), and must
give the same rows and the same figures."""
from __future__ import annotations

import csv
import io
import json
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select, update

from bot.cli import main
from bot.cli_figures import load_figures
from bot.context import build_services
from bot.protocol.csvimport import ALL_COLUMNS
from bot.protocol.figures import (AGE_BANDS, CODE_LAYOUT, DURATION_BANDS, RI_KEYS, Vocab, compute_figures,
                                  episode_keys, pack_keys, period_bounds)
from bot.settings import Settings
from store.figures import packed_vocab, started_between, stream_packed
from store.models import Child, Episode
from tests import test_figures_cli
from tests.test_figures_same import ties_csv

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from import_bench import make_csv  # noqa: E402

NOW = datetime(2026, 11, 19, 10, 0, tzinfo=timezone.utc)
LONDON = ZoneInfo("Europe/London")


def edges_csv() -> str:
    """Episodes on the edges the SQL must get exactly right (times in UTC)."""
    rows = [
        # (ref, dob, started, returned, ri_outcome, ri_at)
        ("E001", "2012-03-30", "2025-03-30T00:59:59.999999+00:00", "2025-03-31T00:59:59.999999+00:00", "completed",
         "2025-04-03T00:59:59.999999+00:00"),  # 24 h exactly; interview exactly at 72 h
        ("E002", "2012-03-31", "2025-03-30T01:00:00+00:00", "2025-03-31T00:59:59.999999+00:00", "completed",
         "2025-04-03T01:00:00+00:00"),  # clocks go forward; just under 24 h; interview 1 µs late
        ("E003", "2012-06-02", "2025-06-01T22:59:59.999999+00:00", "2025-06-04T22:59:59.999999+00:00", None, None),
        ("E004", "2012-06-02", "2025-06-01T23:00:00+00:00", "2025-06-08T23:00:00+00:00", "declined",
         "2025-06-09T10:00:00+00:00"),  # local midnight: the 2nd of June, the 13th birthday
        ("E005", "2008-10-26", "2025-10-26T00:30:00+00:00", "2025-10-26T01:30:00+00:00", None, None),
        ("E006", "2008-10-26", "2025-10-26T01:30:00+00:00", "2025-10-27T01:29:59+00:00", "voided",
         "2025-10-28T00:00:00+00:00"),  # the hour the clocks go back, twice
        ("E007", "2010-02-28", "2024-02-28T23:30:00+00:00", "2024-02-29T00:30:00+00:00", None, None),
        ("E008", "", "2026-11-18T08:00:00+00:00", "2026-11-18T09:00:00+00:00", None, None),  # interview pending
        ("E009", "2026-01-01", "2026-11-19T09:00:00+00:00", "", None, None),  # still missing
        ("E010", "2012-12-31", "2025-12-31T23:59:59+00:00", "2026-01-01T00:00:01+00:00", None, None),
        ("E011", "2008-02-29", "2026-02-28T23:59:59+00:00", "2026-03-01T00:00:00+00:00", None, None),  # born on
        # the 29th: still 17 on the 28th of a common year (the SQL's YYYYMMDD arithmetic, as age_on)
        ("E012", "2008-02-29", "2026-03-01T00:00:00+00:00", "2026-03-01T02:00:00+00:00", None, None),  # 18
    ]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(ALL_COLUMNS)
    for i, (ref, dob, started, returned, outcome, ri_at) in enumerate(rows):
        row = dict.fromkeys(ALL_COLUMNS, "")
        row.update(child_ref=ref, child_label="ZZ", date_of_birth=dob, gender=("male", "female", "unknown")[i % 3],
                   looked_after="Y" if i % 2 else "N", placement_type="foster_care", started_at=started,
                   returned_at=returned, ri_outcome=outcome or "", ri_at=ri_at or "",
                   found_location=" Bus  station " if i % 2 else "bus station", cse_concern="Y" if i % 3 == 0 else "",
                   cce_concern="Y" if i % 4 == 0 else "", episode_type="away" if i % 5 == 0 else "missing",
                   placed_by="Derby" if ref == "E004" else "")
        w.writerow([row[c] for c in ALL_COLUMNS])
    return out.getvalue()


@pytest.fixture
def recorded(db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("TIMEZONE", "Europe/London")
    files = {"cli.csv": test_figures_cli.history_csv(), "ties.csv": ties_csv(), "edges.csv": edges_csv(),
             "bench.csv": make_csv(600, 40, start=datetime(2024, 1, 1, 8, 0)).decode()}
    with time_machine.travel(NOW, tick=False):
        for name, text in files.items():
            (tmp_path / name).write_text(text)
            assert main(["import", str(tmp_path / name)]) == 0
    services = build_services(Settings(_env_file=None, database_url=db_url, timezone="Europe/London"), migrate=False,
                              clock=lambda: NOW)
    # What imports do not carry: factors, who held the interview, sign-off, reasons.
    with services.sessions.begin() as s:
        ids = s.scalars(select(Episode.id).order_by(Episode.id)).all()
        for n, eid in enumerate(ids[::7]):
            s.execute(update(Episode).where(Episode.id == eid).values(
                factors=[["family_conflict"], ["family_conflict", "peer_influence"], [], None][n % 4],
                ri_independent=[True, False, None][n % 3], reasons=["", "  ", "argument at home"][n % 3],
                ri_signed_off_at=NOW if n % 2 else None))
    yield services
    services.engine.dispose()


def _normal(row: tuple) -> tuple:
    """A key row with the driver's forms made Python's (booleans, the start time as aware UTC)."""
    out = list(row)
    started = out[11]
    if isinstance(started, str):
        started = datetime.fromisoformat(started)
    out[11] = started.replace(tzinfo=timezone.utc) if started.tzinfo is None else started.astimezone(timezone.utc)
    for i in (12, 13, 14, 17):
        out[i] = bool(out[i])
    return tuple(out)


PERIODS = [(date(2020, 1, 1), date(2026, 11, 19)), (date(2025, 3, 30), date(2025, 10, 26)),
           (date(2025, 6, 2), date(2025, 6, 2)), (date(2026, 1, 1), date(2026, 11, 19))]


@pytest.mark.parametrize("looked_after_only", [False, True])
def test_sql_packed_rows_are_the_protocols(recorded, looked_after_only):
    """What the report reads: the keys numbered and packed in SQL, as `pack_keys` packs them."""
    services = recorded
    for period_from, period_to in PERIODS:
        start, end = period_bounds(period_from, period_to, LONDON)
        with services.sessions.begin() as s:
            ids = dict(s.execute(select(Child.child_ref, Child.id)).all())
            facts = started_between(s, start, end, looked_after_only=looked_after_only)
            vocab = packed_vocab(s, start, end)
            sql = sorted((r for chunk in stream_packed(s, start, end, LONDON, 72, NOW, vocab,
                                                       looked_after_only=looked_after_only, chunk=50) for r in chunk),
                         key=repr)
        python = sorted((pack_keys(episode_keys(f, LONDON, timedelta(hours=72), NOW, ids[f.child_ref]), vocab)
                         for f in facts), key=repr)
        assert len(python) > 0
        assert sql == python, (period_from, period_to)


@pytest.mark.parametrize("looked_after_only", [False, True])
def test_report_figures_are_those_of_the_facts(recorded, looked_after_only):
    services = recorded
    for period_from, period_to in PERIODS:
        start, end = period_bounds(period_from, period_to, LONDON)
        with services.sessions.begin() as s:
            from_sql = load_figures(s, services, period_from, period_to, looked_after_only, now=NOW)
            facts = started_between(s, start, end, looked_after_only=looked_after_only)
            from store.figures import held_between, withdrawn_started_between

            from_facts = compute_figures(facts, period_from, period_to, LONDON, services.protocol, NOW,
                                         meetings=held_between(s, start, end, looked_after_only=looked_after_only),
                                         withdrawn=withdrawn_started_between(s, start, end,
                                                                             looked_after_only=looked_after_only))
        assert from_sql["episodes"] > 0
        assert json.dumps(from_sql) == json.dumps(from_facts), (period_from, period_to)


def _named(row: tuple) -> dict:
    """A packed row's keys by name (CODE_LAYOUT), for reading the edges by hand."""
    child, code, found, factors = row
    fields = {name: (code >> shift) & ((1 << bits) - 1) for name, (shift, bits) in CODE_LAYOUT.items()}
    month = fields["month"]
    return {"month": f"{month // 12:04d}-{month % 12 + 1:02d}", "band": AGE_BANDS[fields["age_band"]],
            "dur": DURATION_BANDS[fields["duration"]],
            "ri": RI_KEYS[fields["return_interview"] - 1] if fields["return_interview"] else None}


def test_edges_land_where_the_protocol_says(recorded):
    """A few of the edge rows, read by hand: the SQL is not merely equal to a wrong definition."""
    start, end = period_bounds(date(2020, 1, 1), date(2026, 11, 19), LONDON)
    with recorded.sessions.begin() as s:
        ids = {v: k for k, v in s.execute(select(Child.child_ref, Child.id)).all()}
        rows = {ids[r[0]]: _named(r) for chunk in stream_packed(s, start, end, LONDON, 72, NOW, Vocab())
                for r in chunk if ids[r[0]].startswith("E0")}
    assert rows["E001"] == {"month": "2025-03", "band": "13_15", "dur": "24h_to_72h", "ri": "in_timescale"}
    assert rows["E002"] == {"month": "2025-03", "band": "under_13", "dur": "under_24h", "ri": "out_of_timescale"}
    assert rows["E003"]["month"] == "2025-06" and rows["E003"]["band"] == "under_13"  # 23:59:59 on the 1st, local
    assert rows["E004"] == {"month": "2025-06", "band": "13_15", "dur": "over_7d", "ri": "declined"}  # 13 today
    assert rows["E008"]["ri"] == "pending" and (rows["E009"]["dur"], rows["E009"]["ri"]) == ("ongoing", None)
    assert rows["E010"]["month"] == "2025-12" and rows["E008"]["band"] == "unknown"


def test_values_outside_the_protocols_codes_are_counted_too(recorded):
    """Older or imported rows may hold a placement type or gender the protocol no longer lists:
    the packed rows number them from the record and the figures still equal the facts'."""
    services = recorded
    period_from, period_to = PERIODS[0]
    start, end = period_bounds(period_from, period_to, LONDON)
    with services.sessions.begin() as s:
        first = s.scalar(select(Episode.id).order_by(Episode.id))
        s.execute(update(Episode).where(Episode.id == first).values(placement_type="kinship_legacy"))
        s.execute(update(Child).where(Child.child_ref == "E002").values(gender="not_listed"))
    with services.sessions.begin() as s:
        from_sql = load_figures(s, services, period_from, period_to, now=NOW)
        from store.figures import held_between, withdrawn_started_between

        from_facts = compute_figures(started_between(s, start, end), period_from, period_to, LONDON,
                                     services.protocol, NOW, meetings=held_between(s, start, end),
                                     withdrawn=withdrawn_started_between(s, start, end))
    assert from_sql["by_placement_type"]["kinship_legacy"]["episodes"] == 1
    assert from_sql["by_gender"]["not_listed"]["children"] == 1
    assert json.dumps(from_sql) == json.dumps(from_facts)
