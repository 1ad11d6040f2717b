"""SSDA903 Missing table and Ofsted Annex A List 8 columns, on invented children."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from bot.protocol.exports import (
    ANNEX_A_COLUMNS,
    ChildFact,
    annex_a_csv,
    annex_a_missing,
    ssda903_csv,
    ssda903_missing,
    validate_ssda903,
)
from bot.protocol.figures import EpisodeFact

LONDON = ZoneInfo("Europe/London")
UTC = timezone.utc


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON).astimezone(UTC)


def ep(ref, start, end=None, etype="missing", la=True, dob=date(2010, 1, 2), ri=None):
    return EpisodeFact(ref, dob, "female", la, "foster_care", etype, local(start), local(end) if end else None,
                       ri_outcome=ri)


FACTS = [
    ep("K1", "2025-03-20 10:00", "2025-04-02 09:00"),  # spans the start of the year
    ep("K1", "2025-06-01 23:30", "2025-06-02 01:00", etype="away"),  # 22:30 UTC: the local date counts
    ep("K1", "2026-03-31 23:00", "2026-04-01 10:00"),  # ends after the year: open as at 31 March
    ep("K1", "2026-04-01 00:30", "2026-04-01 03:00"),  # next year (23:30 UTC on 31 March)
    ep("K1", "2025-03-31 10:00", "2025-03-31 20:00"),  # ended before the year
    ep("H1", "2025-07-01 10:00", "2025-07-01 12:00", la=False),  # not looked after
    ep("K2", "2025-12-01 18:00", dob=date(2011, 2, 3)),  # still missing
]


def test_ssda903_rows():
    rows = ssda903_missing(FACTS, 2025, LONDON)
    assert rows == [
        {"CHILD": "K1", "DOB": "02/01/2010", "MISSING": "M", "MIS_START": "20/03/2025", "MIS_END": "02/04/2025"},
        {"CHILD": "K1", "DOB": "02/01/2010", "MISSING": "A", "MIS_START": "01/06/2025", "MIS_END": "02/06/2025"},
        {"CHILD": "K1", "DOB": "02/01/2010", "MISSING": "M", "MIS_START": "31/03/2026", "MIS_END": ""},
        {"CHILD": "K2", "DOB": "03/02/2011", "MISSING": "M", "MIS_START": "01/12/2025", "MIS_END": ""},
    ]
    assert validate_ssda903(rows, 2025) == []
    text = ssda903_csv(rows)
    assert text.splitlines()[0] == "CHILD,DOB,MISSING,MIS_START,MIS_END"
    assert text.splitlines()[3] == "K1,02/01/2010,M,31/03/2026,"


def r(child, start, end="", code="M", dob="01/01/2010"):
    return {"CHILD": child, "DOB": dob, "MISSING": code, "MIS_START": start, "MIS_END": end}


def test_ssda903_validation_rules():
    rows = [
        r("A", "10/05/2025", "09/05/2025"),  # 1: 567
        r("B", "02/04/2026"),  # 2: 570
        r("C", "01/01/2025", "30/03/2025"),  # 3: 571 (ends before the year)
        r("D", "01/06/2025", "05/06/2025"),  # 4
        r("D", "04/06/2025", "06/06/2025"),  # 5: 574 overlaps row 4
        r("E", "01/07/2025"),  # 6: open ...
        r("E", "01/08/2025", "02/08/2025"),  # 7: 574 starts while row 6 is open
        r("F", "1/7/25", "31/02/2026", code="X", dob=""),  # 8: 1004, 1005, MISSING, DOB
        r("G", "01/09/2025", "02/09/2025"),
        r("G", "02/09/2025", "03/09/2025"),  # 10: ends and starts the same day: fine
    ]
    found = {(f.row, f.rule) for f in validate_ssda903(rows, 2025)}
    assert found == {(1, "567"), (2, "570"), (3, "571"), (5, "574"), (7, "574"), (8, "1004"), (8, "1005"),
                     (8, "MISSING"), (8, "DOB")}


def test_annex_a():
    now = datetime(2026, 11, 19, 10, 0, tzinfo=UTC)
    day = timedelta(days=1)

    def at(days_ago, ref, etype="missing", ri=None):
        start = now - days_ago * day
        return EpisodeFact(ref, None, "male", True, "other", etype, start, start + timedelta(hours=3), ri_outcome=ri)

    facts = [at(400, "K1", ri="completed"), at(200, "K1", ri="completed"), at(100, "K1", etype="away"),
             at(10, "K1", ri="declined"), at(30, "K2", ri="completed"), at(5, "K4", ri="voided")]
    children = [ChildFact("K2", "female", date(2011, 2, 3)), ChildFact("K1", "male", date(2010, 1, 2)),
                ChildFact("K3", "unknown", None), ChildFact("K4", "male", None)]
    rows = annex_a_missing(children, facts, now)
    got = [[row[c] for c in ANNEX_A_COLUMNS] for row in rows]
    assert got == [
        ["K1", "male", "02/01/2010", "2", "1", "Y", "N"],
        ["K2", "female", "03/02/2011", "1", "0", "Y", "Y"],
        ["K3", "unknown", "", "0", "0", "", ""],
        ["K4", "male", "", "1", "0", "N", "N"],
    ]
    parsed = list(csv.DictReader(io.StringIO(annex_a_csv(rows))))
    assert parsed[0]["Child Unique ID"] == "K1" and len(parsed) == 4


def test_ssda903_574_finds_an_overlap_with_any_earlier_period_not_only_the_previous_row():
    # 1-30 June holds both 5-6 June and 10-12 June: each later period starts before 30 June.
    rows = [r("D", "01/06/2025", "30/06/2025"), r("D", "05/06/2025", "06/06/2025"), r("D", "10/06/2025", "12/06/2025"),
            r("D", "30/06/2025", "01/07/2025")]  # starts the day the long one ends: fine
    assert {(f.row, f.rule) for f in validate_ssda903(rows, 2025)} == {(2, "574"), (3, "574")}


def test_looked_after_is_what_it_was_when_the_episode_began(services):
    """SSDA903 counts episodes while in care: not the past episodes of a child who has since come
    into care, and still those of a child who has since left it."""
    from store import records
    from store.figures import ssda903_rows, started_between
    from tests.clock_helpers import change, found, report

    with change(services) as ctx:
        records.upsert_child(ctx, "T-LEFT", {"label": "AA", "looked_after": True, "date_of_birth": date(2009, 3, 1)})
        records.upsert_child(ctx, "T-CAME", {"label": "BB", "looked_after": False, "date_of_birth": date(2010, 4, 1)})
    report(services, "T-LEFT", local("2025-06-01 10:00"))
    found(services, "T-LEFT", local("2025-06-02 10:00"))
    report(services, "T-CAME", local("2025-07-01 10:00"))
    found(services, "T-CAME", local("2025-07-02 10:00"))
    with change(services) as ctx:  # a year on: one has left care, the other has come into it
        records.upsert_child(ctx, "T-LEFT", {"looked_after": False})
        records.upsert_child(ctx, "T-CAME", {"looked_after": True})
    with services.sessions() as s:
        rows, findings = ssda903_rows(s, 2025, LONDON)
        in_care = started_between(s, local("2025-04-01 00:00"), local("2026-04-01 00:00"), looked_after_only=True)
    assert [r["CHILD"] for r in rows] == ["T-LEFT"] and findings == []
    assert [f.child_ref for f in in_care] == ["T-LEFT"]
