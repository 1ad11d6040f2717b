"""The pure meeting rules: recurrence, review periods, working days and the typed dates."""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from bot.protocol import meetings as pm
from bot.protocol.config import ProtocolError, parse_protocol

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize("day, n, expected", [
    (date(2026, 12, 17), 2, date(2026, 12, 15)),  # Thu -> Tue
    (date(2026, 11, 23), 2, date(2026, 11, 19)),  # Mon -> previous Thu (weekend skipped)
    (date(2026, 12, 29), 2, date(2026, 12, 23)),  # Boxing Day substitute Mon 28, Christmas Fri 25 skipped
    (date(2027, 3, 30), 2, date(2027, 3, 24)),    # Easter Monday 29 Mar and Good Friday 26 Mar skipped
    (date(2027, 5, 4), 1, date(2027, 4, 30)),     # Early May bank holiday Mon 3 May skipped
    (date(2026, 12, 17), 0, date(2026, 12, 17)),
])
def test_working_days_skip_weekends_and_english_bank_holidays(day, n, expected):
    assert pm.working_days_before(day, n) == expected


def test_scottish_only_holidays_are_working_days_in_england():
    assert pm.is_working_day(date(2027, 1, 4))  # 2 January substitute: Scotland only
    assert not pm.is_working_day(date(2027, 1, 1))


def test_agenda_due_at():
    config = pm.SeriesConfig()
    meeting = datetime(2027, 4, 15, 10, 0, tzinfo=LONDON)
    assert pm.agenda_due_at(config, meeting) == datetime(2027, 4, 13, 9, 0, tzinfo=LONDON)
    same_day = pm.SeriesConfig(lead_working_days=0, start_time=time(8, 30))
    assert pm.agenda_due_at(same_day, datetime(2027, 4, 15, 8, 30, tzinfo=LONDON)) == datetime(2027, 4, 15, 8, 30, tzinfo=LONDON)


def test_review_period_runs_from_the_agenda_of_the_last_meeting_held():
    # Each period starts where the previous held meeting's agenda stopped looking (its build time,
    # two working days before at 09:00), so agendas built on time leave no gap between them.
    config = pm.SeriesConfig()
    first = date(2026, 10, 15)
    dec = datetime(2026, 12, 17, 10, 0, tzinfo=LONDON)
    assert pm.review_period_start(config, first, dec) == datetime(2026, 11, 17, 9, 0, tzinfo=LONDON)
    skip = {datetime(2026, 11, 19, 10, 0, tzinfo=timezone.utc)}
    assert pm.review_period_start(config, first, dec, skip) == datetime(2026, 10, 13, 9, 0, tzinfo=LONDON)
    # The first meeting of a series reviews since where the previous agenda would have been.
    assert pm.review_period_start(config, first, datetime(2026, 10, 15, 10, 0, tzinfo=LONDON)) == \
        datetime(2026, 9, 15, 9, 0, tzinfo=LONDON)


def test_next_occurrence_and_fortnightly_rule():
    mace = pm.SeriesConfig(name="MACE", rrule="FREQ=WEEKLY;INTERVAL=2;BYDAY=TU", start_time=time(14, 0))
    first = pm.first_occurrence_date(mace, date(2026, 11, 23))
    assert first == date(2026, 11, 24)
    nxt = pm.next_occurrence(mace, first, datetime(2026, 11, 24, 14, 1, tzinfo=LONDON))
    assert nxt == datetime(2026, 12, 8, 14, 0, tzinfo=LONDON)


def test_until_in_utc_and_count_end_a_series():
    c = pm.SeriesConfig(rrule="FREQ=MONTHLY;BYDAY=+3TH;UNTIL=20270131T235959Z")
    got = pm.occurrences(c, date(2026, 11, 19), datetime(2026, 11, 1, tzinfo=LONDON), datetime(2028, 1, 1, tzinfo=LONDON))
    assert [d.date() for d in got] == [date(2026, 11, 19), date(2026, 12, 17), date(2027, 1, 21)]


@pytest.mark.parametrize("values, needle", [
    ({"rrule": "EVERY THURSDAY"}, "not a valid RRULE"),
    ({"rrule": "FREQ=MONTHLY;UNTIL=20271231"}, "UNTIL is in UTC"),
    ({"rrule": "FREQ=HOURLY"}, "daily at most"),
    ({"timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"channel": "#general"}, "channel ID"),
    ({"start_time": "23:00", "duration_minutes": 120}, "end on the day"),
    ({"attendees": [{"name": "X", "email": "not-an-address"}]}, "not an email address"),
])
def test_series_config_refusals(values, needle):
    with pytest.raises(ValidationError, match=needle):
        pm.SeriesConfig(**values)


def test_protocol_file_meetings():
    protocol = parse_protocol({"meetings": [
        {"name": "Missing Children Monitoring Meeting", "location": "Council House",
         "chair": {"name": "Jo Chair", "email": "chair@example.org"},
         "attendees": [{"name": "Al Police", "email": "AL@example.org"}]},
        {"name": "MACE", "rrule": "FREQ=MONTHLY;BYDAY=+2TU", "start_time": "14:00", "duration_minutes": 60},
    ]})
    assert [m.name for m in protocol.meetings] == ["Missing Children Monitoring Meeting", "MACE"]
    assert protocol.meetings[0].attendees[0].email == "al@example.org"
    with pytest.raises(ProtocolError, match="two series are called"):
        parse_protocol({"meetings": [{"name": "MACE"}, {"name": "mace"}]})
    with pytest.raises(ProtocolError, match="meetings.0.rrule"):
        parse_protocol({"meetings": [{"rrule": "FREQ=NEVER"}]})


@pytest.mark.parametrize("text, expected", [
    ("today", date(2026, 11, 19)), ("tomorrow", date(2026, 11, 20)), ("friday", date(2026, 11, 20)),
    ("thu", date(2026, 11, 26)), ("next monday", date(2026, 11, 23)), ("in 10 days", date(2026, 11, 29)),
    ("2w", date(2026, 12, 3)), ("2026-12-17", date(2026, 12, 17)), ("17/12/2026", date(2026, 12, 17)),
    ("17/12/26", date(2026, 12, 17)), ("31/02/2026", None), ("someday", None), ("", None),
])
def test_parse_day(text, expected):
    assert pm.parse_day(text, date(2026, 11, 19)) == expected


def test_person_parse():
    assert pm.Person.parse('"Jo Chair" <Chair@Example.org>') == pm.Person(name="Jo Chair", email="chair@example.org")
    assert str(pm.Person.parse("al@example.org")) == "al@example.org"
