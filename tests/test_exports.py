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
    """The findings are the DfE rules as the councils' 903 validator (lac_validator) runs them;
    the hand-written checks that were here are gone (their MISSING/DOB pseudo-rules became 1006)."""
    rows = [
        r("A", "10/05/2025", "09/05/2025"),  # 1: 567
        r("B", "02/04/2026"),  # 2: 570
        r("C", "01/01/2025", "30/03/2025"),  # 3: 571 (ends before the year)
        r("D", "01/06/2025", "05/06/2025"),  # 4
        r("D", "04/06/2025", "06/06/2025"),  # 5: 574 overlaps row 4
        r("E", "01/07/2025"),  # 6: open ...
        r("E", "01/08/2025", "02/08/2025"),  # 7: 574 starts while row 6 is open
        r("F", "1/7/25", "31/02/2026", code="X", dob=""),  # 8: 1004, 1005, 1006
        r("G", "01/09/2025", "02/09/2025"),
        r("G", "02/09/2025", "03/09/2025"),  # 10: ends and starts the same day: fine
        r("H", "01/09/2025", "02/09/2025", dob="05/09/2025"),  # 11: 586, missing before the date of birth
    ]
    findings = validate_ssda903(rows, 2025)
    assert {(f.row, f.rule) for f in findings} == {(1, "567"), (2, "570"), (3, "571"), (5, "574"), (7, "574"),
                                                   (8, "1004"), (8, "1005"), (8, "1006"), (11, "586")}
    f586 = next(f for f in findings if f.rule == "586")
    assert f586.child == "H" and "before child" in f586.message and str(f586).startswith("row 11 (child H): rule 586: ")


def test_the_rules_run_are_every_missing_table_rule_the_validator_ships():
    from lac_validator.rules.ruleset_utils import get_year_ruleset

    from bot.protocol.exports import missing_table_rules

    pack = get_year_ruleset("2026")
    shipped = {c for c, rule in pack.items() if rule.tables and "Missing" in rule.tables
               and set(rule.tables) <= {"Missing", "Header"}}
    assert set(missing_table_rules(2025)) == shipped
    assert {"586", "1004", "1005", "1006", "564", "565", "566", "567", "570", "571", "574"} <= shipped
    assert missing_table_rules(2099), "a year past the packs uses the latest pack"


def test_ssda903_574_is_the_validators_reading_of_overlaps():
    # The validator orders a child's periods by their end and compares each with the one before:
    # 1-30 June ends after 5-6 and 10-12 June and starts before 12 June, so it is the one flagged.
    rows = [r("D", "01/06/2025", "30/06/2025"), r("D", "05/06/2025", "06/06/2025"), r("D", "10/06/2025", "12/06/2025"),
            r("D", "30/06/2025", "01/07/2025")]  # starts the day the long one ends: fine
    assert {(f.row, f.rule) for f in validate_ssda903(rows, 2025)} == {(1, "574")}


def test_an_invented_year_passes_every_missing_table_rule_and_a_broken_export_fails():
    """Episodes crossing 31 March (both ends), a child turning 18 in the year, away episodes, a
    child never looked after and one still missing: 0 findings. The same rows with dates written
    yyyy-mm-dd fail the validator."""
    facts = FACTS + [
        ep("T18", "2025-09-20 22:00", "2025-09-21 08:00", dob=date(2007, 9, 21)),  # 18 the next day
        ep("T18", "2025-09-22 10:00", "2025-09-22 18:00", etype="away", dob=date(2007, 9, 21)),
        ep("NEVER", "2025-05-05 10:00", "2025-05-05 12:00", la=False),
    ]
    rows = ssda903_missing(facts, 2025, LONDON)
    assert {row["CHILD"] for row in rows} == {"K1", "K2", "T18"}
    assert {row["MISSING"] for row in rows} == {"M", "A"}
    assert validate_ssda903(rows, 2025) == []

    def iso(value: str) -> str:
        return "-".join(reversed(value.split("/"))) if value else ""

    broken = [{**row, "MIS_START": iso(row["MIS_START"]), "MIS_END": iso(row["MIS_END"])} for row in rows]
    found = validate_ssda903(broken, 2025)
    assert {f.rule for f in found} >= {"1004"} and {f.row for f in found if f.rule == "1004"} == set(
        range(1, len(rows) + 1))
    assert any(f.rule == "1005" for f in found)


def test_annex_a_headers_are_the_templates_byte_for_byte():
    header = annex_a_csv([]).encode("utf-8")
    assert header == (
        b"Child Unique ID,Gender,Date of Birth,Age of Child (Years),Placement Type,LA of Placement,"
        b"Number of Episodes the Child has been 'Missing' from their Placement in the last 12 months,"
        b"Number of Episodes the Child has been 'Absent' from their Placement in the last 12 months,"
        b"Was the child offered a Return Interview after their last missing episode (Y/N)?,"
        b"Did the child accept a Return Interview after their last missing episode (Y/N)?,"
        b"Allocated Team,Allocated Worker\r\n")


def test_annex_a():
    now = datetime(2026, 11, 19, 10, 0, tzinfo=UTC)
    day = timedelta(days=1)

    def at(days_ago, ref, etype="missing", ri=None):
        start = now - days_ago * day
        return EpisodeFact(ref, None, "male", True, "other", etype, start, start + timedelta(hours=3), ri_outcome=ri)

    facts = [at(400, "K1", ri="completed"), at(200, "K1", ri="completed"), at(100, "K1", etype="away"),
             at(10, "K1", ri="declined"), at(30, "K2", ri="completed"), at(5, "K4", ri="voided")]
    children = [ChildFact("K2", "female", date(2011, 2, 3), "foster_care", "Derbyshire"),
                ChildFact("K1", "male", date(2010, 11, 20), "la_residential"),
                ChildFact("K3", "unknown", None), ChildFact("K4", "other", None),
                ChildFact("K5", "transgender", None), ChildFact("PB1", "female", None, placed_by="Nottinghamshire")]
    rows = annex_a_missing(children, facts, now, council="Derby", zone=LONDON)
    got = [[row[c] for c in ANNEX_A_COLUMNS] for row in rows]
    assert got == [
        ["K1", "a) Male", "20/11/2010", "15", "LA residential", "Derby", "2", "1", "Y", "N", "", ""],
        ["K2", "b) Female", "03/02/2011", "15", "Foster care", "Derbyshire", "1", "0", "Y", "Y", "", ""],
        ["K3", "c) Not stated/recorded", "", "", "Other", "Derby", "0", "0", "", "", "", ""],
        ["K4", "d) Neither", "", "", "Other", "Derby", "1", "0", "N", "N", "", ""],
        ["K5", "c) Not stated/recorded", "", "", "Other", "Derby", "0", "0", "", "", "", ""],
    ]
    parsed = list(csv.DictReader(io.StringIO(annex_a_csv(rows))))
    assert parsed[0]["Child Unique ID"] == "K1" and len(parsed) == 5


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
