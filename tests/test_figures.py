"""Board figures on an invented data set whose answers were counted by hand from the table below."""
from __future__ import annotations

import csv
import io
import json
import random
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.protocol.config import Protocol
from bot.protocol.figures import EpisodeFact, compute_figures, summary_text, to_csv, to_markdown

LONDON = ZoneInfo("Europe/London")
UTC = timezone.utc
KEYS = {"period", "episodes", "children", "by_gender", "by_placement_type", "by_age_band", "by_month", "durations",
        "persistent", "non_persistent", "top_children", "top10_episode_share", "return_interviews",
        "found_locations", "concerns", "placed_by_other_councils"}  # the last: issue 9


def local(text: str) -> datetime:
    """'2025-04-03 20:00' London wall-clock time -> aware UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=LONDON).astimezone(UTC)


CHILDREN = {  # ref: (gender, date of birth, looked after)
    "A1": ("male", date(2009, 5, 15), True),
    "B2": ("female", date(2012, 1, 1), True),
    "C3": ("transgender", None, True),
    "D4": ("male", date(2014, 3, 1), False),
    "E5": ("female", date(2007, 6, 15), True),
}
# ref, type, placement, local start, hours missing (None: still missing), RI outcome, RI hours after return, found, cse, cce
EPISODES = [
    ("A1", "missing", "foster_care", "2025-04-03 20:00", 5, "completed", 48, "Bus station", True, False),
    ("A1", "missing", "foster_care", "2025-04-20 21:00", 30, "completed", 80, "bus  station ", False, False),
    ("A1", "missing", "foster_care", "2025-05-10 22:00", 100, "declined", 10, "Park", False, False),
    ("A1", "missing", "semi_independent", "2025-06-01 18:00", 200, None, None, "", False, False),
    ("B2", "missing", "la_residential", "2025-04-15 23:00", 2, "voided", 5, "Friend's house", False, True),
    ("B2", "missing", "la_residential", "2025-06-30 23:30", None, None, None, "", False, False),  # 23:30 on the last day
    ("C3", "missing", "independent_residential", "2025-05-05 10:00", 10, None, None, "", False, False),
    ("C3", "missing", "independent_residential", "2025-05-06 10:00", 1, "completed", 72, "", False, False),
    ("C3", "missing", "independent_residential", "2025-05-07 10:00", 1, None, None, "", False, False),
    ("D4", "missing", "home", "2025-06-29 10:00", 22, None, None, "", False, False),
    ("E5", "away", "semi_independent", "2025-04-01 00:30", 3, "completed", 10, "Park", False, False),
    # outside the period
    ("E5", "away", "semi_independent", "2025-03-31 23:30", 0.5, None, None, "", False, False),
    ("E5", "away", "semi_independent", "2025-07-01 00:30", 1, None, None, "", False, False),
]
NOW = datetime(2025, 7, 2, 12, 0, tzinfo=UTC)


def facts() -> list[EpisodeFact]:
    out = []
    for ref, etype, placement, start, hours, outcome, ri_hours, found, cse, cce in EPISODES:
        gender, dob, la = CHILDREN[ref]
        started = local(start)
        returned = started + timedelta(hours=hours) if hours is not None else None
        ri_at = returned + timedelta(hours=ri_hours) if ri_hours is not None else None
        out.append(EpisodeFact(ref, dob, gender, la, placement, etype, started, returned, found, cse, cce, outcome, ri_at))
    random.Random(1).shuffle(out)
    return out


@pytest.fixture
def fig():
    return compute_figures(facts(), date(2025, 4, 1), date(2025, 6, 30), LONDON, Protocol(), NOW)


NEW_KEYS = {"by_episode_type", "reasons", "push_pull_factors", "concerns_by_type", "return_interviews_completed",
            "meetings_held", "withdrawn"}


def test_exact_keys_and_json(fig):
    assert set(fig) == KEYS | NEW_KEYS  # issue 5's keys unchanged; issue 8 adds, never renames
    json.dumps(fig)


def test_totals(fig):
    assert fig["period"] == {"from": "2025-04-01", "to": "2025-06-30"}
    assert (fig["episodes"], fig["children"]) == (11, 5)


def test_breakdowns(fig):
    assert fig["by_gender"] == {"male": {"children": 2, "episodes": 5}, "female": {"children": 2, "episodes": 3},
                                "transgender": {"children": 1, "episodes": 3}, "other": {"children": 0, "episodes": 0},
                                "unknown": {"children": 0, "episodes": 0}}
    p = {k: (v["children"], v["episodes"]) for k, v in fig["by_placement_type"].items() if v["episodes"]}
    assert p == {"foster_care": (1, 3), "semi_independent": (2, 2), "la_residential": (1, 2),
                 "independent_residential": (1, 3), "home": (1, 1)}
    a = {k: (v["children"], v["episodes"]) for k, v in fig["by_age_band"].items()}
    # A1 (born 2009-05-15) is 15 in April and on 10 May, 16 on 1 June; E5 is 17; C3 has no date of birth.
    assert a == {"under_13": (1, 1), "13_15": (2, 5), "16_17": (2, 2), "18_plus": (0, 0), "unknown": (1, 3)}


def test_by_month(fig):
    months = {m["month"]: (m["episodes"], m["children"], {k: n for k, n in m["children_by_placement_type"].items() if n})
              for m in fig["by_month"]}
    assert months == {
        "2025-04": (4, 3, {"foster_care": 1, "la_residential": 1, "semi_independent": 1}),
        "2025-05": (4, 2, {"foster_care": 1, "independent_residential": 1}),
        "2025-06": (3, 3, {"semi_independent": 1, "la_residential": 1, "home": 1}),
    }


def test_durations_persistence_top(fig):
    assert fig["durations"] == {"under_24h": 7, "24h_to_72h": 1, "72h_to_7d": 1, "over_7d": 1, "ongoing": 1}
    assert fig["persistent"] == {"threshold": 3, "children": 2, "episodes": 7}
    assert fig["non_persistent"] == {"children": 3, "episodes": 4}
    assert fig["top_children"] == [
        {"child_ref": "A1", "episodes": 4, "placement_types": ["foster_care", "semi_independent"]},
        {"child_ref": "C3", "episodes": 3, "placement_types": ["independent_residential"]},
        {"child_ref": "B2", "episodes": 2, "placement_types": ["la_residential"]},
        {"child_ref": "D4", "episodes": 1, "placement_types": ["home"]},
        {"child_ref": "E5", "episodes": 1, "placement_types": ["semi_independent"]},
    ]
    assert fig["top10_episode_share"] == 1.0


def test_return_interviews_locations_concerns(fig):
    assert fig["return_interviews"] == {"in_timescale": 3, "out_of_timescale": 1, "declined": 1, "voided": 1,
                                        "incomplete": 3, "pending": 1}
    assert fig["found_locations"] == [{"location": "Bus station", "episodes": 2}, {"location": "Park", "episodes": 2},
                                      {"location": "Friend's house", "episodes": 1}]
    assert fig["concerns"] == {"cse": 1, "cce": 1}


def test_protocol_numbers_are_used():
    proto = Protocol(interview_hours=96, report_persistent_threshold=4)
    fig = compute_figures(facts(), date(2025, 4, 1), date(2025, 6, 30), LONDON, proto, NOW, top_n=2)
    assert fig["persistent"] == {"threshold": 4, "children": 1, "episodes": 4}
    assert fig["return_interviews"]["out_of_timescale"] == 0  # A1's 80 h interview is in time under 96 h
    assert [c["child_ref"] for c in fig["top_children"]] == ["A1", "C3"]


def test_top10_share_counts_ten_children():
    # 12 children: C00 has 12 episodes, C01 11, ... C11 1 (78 in all); the top ten have 12+...+3 = 75.
    out = []
    for i in range(12):
        for k in range(12 - i):
            start = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=k * 3, hours=i)
            out.append(EpisodeFact(f"C{i:02d}", None, "unknown", True, "other", "missing", start,
                                   start + timedelta(hours=1)))
    fig = compute_figures(out, date(2025, 1, 1), date(2025, 12, 31), LONDON, Protocol(), NOW)
    assert fig["episodes"] == 78
    assert fig["top10_episode_share"] == round(75 / 78, 4)
    assert len(fig["top_children"]) == 12 and fig["top_children"][0] == {
        "child_ref": "C00", "episodes": 12, "placement_types": ["other"]}


def test_boundaries_in_local_time():
    """23:30 on the last day counts; 00:30 the next day (still the last day in UTC) does not."""
    late = EpisodeFact("X", None, "male", True, "other", "missing", local("2025-10-31 23:30"), None)
    next_day = EpisodeFact("Y", None, "male", True, "other", "missing", local("2025-11-01 00:30"), None)
    assert next_day.started_at.date() == date(2025, 11, 1)  # GMT: same date; check the BST side too:
    bst_next_day = EpisodeFact("Z", None, "male", True, "other", "missing", local("2025-10-01 00:30"), None)
    assert bst_next_day.started_at.date() == date(2025, 9, 30)
    fig = compute_figures([late, next_day, bst_next_day], date(2025, 9, 1), date(2025, 9, 30), LONDON, Protocol(), NOW)
    assert fig["episodes"] == 0
    fig = compute_figures([late, next_day, bst_next_day], date(2025, 10, 1), date(2025, 10, 31), LONDON, Protocol(), NOW)
    assert fig["episodes"] == 2 and {c["child_ref"] for c in fig["top_children"]} == {"X", "Z"}


def test_episode_spanning_two_months_counts_once_in_its_start_month():
    e = EpisodeFact("X", None, "male", True, "other", "missing", local("2025-04-30 22:00"), local("2025-05-02 10:00"))
    fig = compute_figures([e], date(2025, 4, 1), date(2025, 5, 31), LONDON, Protocol(), NOW)
    assert [(m["month"], m["episodes"]) for m in fig["by_month"]] == [("2025-04", 1), ("2025-05", 0)]
    assert fig["durations"]["24h_to_72h"] == 1
    assert compute_figures([e], date(2025, 5, 1), date(2025, 5, 31), LONDON, Protocol(), NOW)["episodes"] == 0


def test_episode_spanning_the_end_of_bst_is_measured_in_real_hours():
    # 25 Oct 2025 23:00 BST to 26 Oct 2025 22:30 GMT: 23.5 hours on the clock face, 24.5 real hours.
    e = EpisodeFact("X", None, "male", True, "other", "missing", local("2025-10-25 23:00"), local("2025-10-26 22:30"))
    assert e.returned_at - e.started_at == timedelta(hours=24, minutes=30)
    fig = compute_figures([e], date(2025, 10, 1), date(2025, 10, 31), LONDON, Protocol(), NOW)
    assert fig["durations"]["24h_to_72h"] == 1 and fig["durations"]["under_24h"] == 0


def test_empty_period():
    fig = compute_figures([], date(2025, 1, 1), date(2025, 3, 31), LONDON, Protocol(), NOW)
    assert fig["episodes"] == 0 and fig["top10_episode_share"] == 0.0 and len(fig["by_month"]) == 3
    assert "0 episodes" in summary_text(fig)
    to_csv(fig), to_markdown(fig)


def test_csv_and_markdown_carry_the_same_figures(fig):
    text = to_csv(fig)
    rows = list(csv.reader(io.StringIO(text)))
    assert ["Episodes", "11"] in rows and ["Children", "5"] in rows
    assert ["Male", "2", "5", "5", "0"] in rows  # children, episodes, then missing and away side by side
    assert ["2025-04", "4", "3", "1", "1", "0", "1", "0", "0", "0", "0"] in rows
    assert ["1", "A1", "4", "Foster care, Semi-independent"] in rows
    assert ["In timescale", "3", "2", "1"] in rows and ["Incomplete", "3", "3", "0"] in rows
    md = to_markdown(fig)
    assert "| Episodes | 11 |" in md and "| Bus station | 2 |" in md and "## Return interviews" in md
    assert "| 2025-06 | 3 | 3 |" in md


def test_summary_names_no_child(fig):
    text = summary_text(fig)
    assert "11 episodes, 5 children" in text
    for ref in CHILDREN:
        assert ref not in text


def test_csv_cells_cannot_run_as_spreadsheet_formulas():
    # Found locations are typed by staff; a board author opens the CSV in Excel, where a cell that starts
    # with = + - or @ is run as a formula (CSV injection). Such text cells are prefixed with an apostrophe.
    e = EpisodeFact("X", None, "male", True, "other", "missing", local("2025-05-01 10:00"), local("2025-05-01 12:00"),
                    found_location='=HYPERLINK("http://example.invalid","Park")')
    rows = list(csv.reader(io.StringIO(to_csv(compute_figures([e], date(2025, 5, 1), date(2025, 5, 31), LONDON,
                                                             Protocol(), NOW)))))
    assert ["'=HYPERLINK(\"http://example.invalid\",\"Park\")", "1"] in rows
    assert ["Episodes", "1"] in rows and ["Period from", "2025-05-01"] in rows
