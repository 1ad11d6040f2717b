"""The meeting calendar: invites that icalendar, vobject, recurring-ical-events and a real
Debian calendar client (khal) all read the same way."""
from __future__ import annotations

import calendar as pycal
import io
import shutil
import subprocess
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
import vobject
from dateutil import tz as dateutil_tz

from bot import ics
from bot.protocol import meetings as pm

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)


def third_thursdays(first: date, months: int) -> list[date]:
    """Computed independently of any rule engine: the third Thursday of each month."""
    out = []
    y, m = first.year, first.month
    for _ in range(months):
        thursdays = [d for d in pycal.Calendar().itermonthdates(y, m) if d.month == m and d.weekday() == 3]
        out.append(thursdays[2])
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def series(**overrides) -> ics.SeriesData:
    config = pm.SeriesConfig(chair=pm.Person.parse("Jo Chair <chair@example.org>"),
                             attendees=[pm.Person.parse("Al Police <al@example.org>"),
                                        pm.Person.parse("Bea Health <bea@example.org>")],
                             location="Council House, Room 4")
    values = dict(uid="series-1@missing-bot", config=config, dtstart=date(2026, 12, 17), sequence=0, created=NOW)
    values.update(overrides)
    return ics.SeriesData(**values)


EXPECTED = third_thursdays(date(2026, 12, 1), 24)  # Dec 2026 .. Nov 2028


def test_default_series_is_third_thursday_ten_to_half_eleven():
    c = pm.SeriesConfig()
    assert (c.name, c.rrule, c.start_time.isoformat(), c.duration_minutes, c.timezone) == (
        "Missing Children Monitoring Meeting", "FREQ=MONTHLY;BYDAY=+3TH", "10:00:00", 90, "Europe/London")
    assert pm.first_occurrence_date(c, date(2026, 11, 20)) == date(2026, 12, 17)
    assert pm.first_occurrence_date(c, date(2026, 11, 19)) == date(2026, 11, 19)


def test_recurring_ical_events_gives_third_thursdays_at_ten_london_for_24_months():
    cal = icalendar.Calendar.from_ical(ics.request(series()))
    events = recurring_ical_events.of(cal).between(date(2026, 12, 1), date(2028, 12, 1))
    starts = sorted(e["DTSTART"].dt for e in events)
    assert [s.date() for s in starts] == EXPECTED
    for s in starts:
        local = s.astimezone(LONDON)
        assert (local.hour, local.minute) == (10, 0)
    utc_hours = {s.astimezone(timezone.utc).hour for s in starts}
    assert utc_hours == {9, 10}  # 10:00 BST is 09:00 UTC: the clock changes are honoured
    summer = [s for s in starts if s.astimezone(timezone.utc).hour == 9]
    assert summer and all(4 <= s.month <= 10 for s in summer)
    assert all(e["DTEND"].dt - e["DTSTART"].dt == timedelta(minutes=90) for e in events)


def test_our_own_expansion_matches():
    c = series().config
    starts = pm.occurrences(c, date(2026, 12, 17), datetime(2026, 12, 1, tzinfo=LONDON), datetime(2028, 12, 1, tzinfo=LONDON))
    assert [s.date() for s in starts] == EXPECTED
    assert {(s.hour, s.minute) for s in starts} == {(10, 0)}


def test_invite_parses_with_icalendar_as_an_itip_request():
    cal = icalendar.Calendar.from_ical(ics.request(series(sequence=3)))
    assert cal["METHOD"] == "REQUEST" and cal["VERSION"] == "2.0"
    tz = cal.walk("VTIMEZONE")
    assert len(tz) == 1 and tz[0]["TZID"] == "Europe/London"
    assert {c.name for c in tz[0].subcomponents} == {"STANDARD", "DAYLIGHT"}
    (event,) = cal.walk("VEVENT")
    assert event["UID"] == "series-1@missing-bot"
    assert event["SEQUENCE"] == 3
    assert event["RRULE"].to_ical() == b"FREQ=MONTHLY;BYDAY=+3TH"
    assert event["DTSTART"].params["TZID"] == "Europe/London"
    assert event["DTSTART"].dt == datetime(2026, 12, 17, 10, 0, tzinfo=LONDON)
    assert str(event["ORGANIZER"]) == "mailto:chair@example.org"
    attendees = event["ATTENDEE"]
    assert [str(a) for a in attendees] == ["mailto:al@example.org", "mailto:bea@example.org"]
    assert all(a.params["RSVP"] == "TRUE" and a.params["PARTSTAT"] == "NEEDS-ACTION" for a in attendees)
    assert attendees[0].params["CN"] == "Al Police"
    assert event["LOCATION"] == "Council House, Room 4"
    assert "DTSTAMP" in event


def test_invite_parses_with_vobject_an_independent_parser():
    text = ics.request(series(sequence=1)).decode()
    cal = vobject.readOne(text)
    assert cal.method.value == "REQUEST"
    event = cal.vevent
    assert event.uid.value == "series-1@missing-bot"
    assert event.sequence.value == "1"
    assert event.organizer.value == "mailto:chair@example.org"
    assert sorted(a.value for a in event.attendee_list) == ["mailto:al@example.org", "mailto:bea@example.org"]
    assert all(a.params["RSVP"] == ["TRUE"] for a in event.attendee_list)
    assert "Europe/London" in str(event.dtstart.value.tzinfo)
    # vobject builds the zone from the VTIMEZONE we wrote (its yearly rules) and expands on it:
    starts = event.getrruleset().between(datetime(2026, 12, 1, tzinfo=timezone.utc), datetime(2028, 12, 1, tzinfo=timezone.utc))
    assert [s.date() for s in starts] == EXPECTED
    assert {s.astimezone(LONDON).time().isoformat() for s in starts} == {"10:00:00"}
    assert {s.astimezone(timezone.utc).hour for s in starts} == {9, 10}
    # ...and the VTIMEZONE we wrote, read by dateutil's own iCalendar zone reader, gives the right offsets.
    vtz = text[text.index("BEGIN:VTIMEZONE"):text.index("END:VTIMEZONE") + len("END:VTIMEZONE")]
    zone = dateutil_tz.tzical(io.StringIO(vtz)).get("Europe/London")
    for d in EXPECTED:
        wall = datetime(d.year, d.month, d.day, 10, tzinfo=zone)
        assert wall.utcoffset() == datetime(d.year, d.month, d.day, 10, tzinfo=LONDON).utcoffset()
        assert wall.tzname() == ("BST" if 4 <= d.month <= 10 else "GMT")


def test_cancelled_occurrence_is_an_exdate_and_a_cancel_with_recurrence_id():
    gone = datetime(2027, 1, 21, 10, 0, tzinfo=LONDON)
    data = series(exdates=[gone], sequence=2)
    cal = icalendar.Calendar.from_ical(ics.request(data))
    dates = [e["DTSTART"].dt.date() for e in recurring_ical_events.of(cal).between(date(2026, 12, 1), date(2027, 3, 1))]
    assert dates == [date(2026, 12, 17), date(2027, 2, 18)]
    cancel = icalendar.Calendar.from_ical(ics.cancel_occurrence(data, gone))
    assert cancel["METHOD"] == "CANCEL"
    (event,) = cancel.walk("VEVENT")
    assert event["UID"] == data.uid and event["STATUS"] == "CANCELLED" and event["SEQUENCE"] == 2
    assert event["RECURRENCE-ID"].dt == gone
    assert vobject.readOne(ics.cancel_occurrence(data, gone).decode()).vevent.recurrence_id.value == gone


def test_cancelled_series():
    cal = icalendar.Calendar.from_ical(ics.cancel_series(series(sequence=5)))
    assert cal["METHOD"] == "CANCEL"
    (event,) = cal.walk("VEVENT")
    assert (event["STATUS"], event["SEQUENCE"], event["UID"]) == ("CANCELLED", 5, "series-1@missing-bot")
    assert "RECURRENCE-ID" not in event


def test_the_description_says_what_the_meeting_is_and_where_the_agenda_is_never_a_child():
    cal = icalendar.Calendar.from_ical(ics.request(series()))
    (event,) = cal.walk("VEVENT")
    text = str(event["DESCRIPTION"])
    assert "reviews the children reported missing" in text and "Period reviewed" in text
    assert "Agenda: sent before each meeting" in text and "/missing agenda" in text
    assert "RECURRENCE-ID" not in ics.request(series()).decode()  # no per-meeting agenda overrides


def test_the_chair_organises_and_is_not_invited():
    data = series(sent_by="missing-bot@council.example")
    data.config = data.config.model_copy(update={"attendees": [*data.config.attendees, data.config.chair]})
    (event,) = icalendar.Calendar.from_ical(ics.request(data)).walk("VEVENT")
    assert str(event["ORGANIZER"]) == "mailto:chair@example.org"
    assert event["ORGANIZER"].params["SENT-BY"] == "mailto:missing-bot@council.example"
    assert [str(a) for a in event["ATTENDEE"]] == ["mailto:al@example.org", "mailto:bea@example.org"]
    alone = series(sent_by="missing-bot@council.example")
    alone.config = alone.config.model_copy(update={"chair": None})
    (event,) = icalendar.Calendar.from_ical(ics.request(alone)).walk("VEVENT")
    assert str(event["ORGANIZER"]) == "mailto:missing-bot@council.example" and "SENT-BY" not in event["ORGANIZER"].params


def test_the_same_series_gives_the_same_bytes():
    """DTSTAMP is the series' last change, not the moment the file is made: a feed polled twice is unchanged."""
    assert ics.request(series()) == ics.request(series())
    assert ics.feed([series()]) == ics.feed([series()])
    later = series(updated=datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc))
    assert icalendar.Calendar.from_ical(ics.request(later)).walk("VEVENT")[0]["DTSTAMP"].dt == later.updated


def test_fortnightly_tuesday_rule_in_another_series():
    c = pm.SeriesConfig(name="MACE", rrule="FREQ=WEEKLY;INTERVAL=2;BYDAY=TU", start_time="14:00")
    data = ics.SeriesData(uid="mace@x", config=c, dtstart=pm.first_occurrence_date(c, date(2026, 11, 23)), sequence=0,
                          created=NOW)
    cal = icalendar.Calendar.from_ical(ics.feed([series(), data]))
    assert "METHOD" not in cal
    events = recurring_ical_events.of(cal).between(date(2026, 11, 23), date(2027, 1, 1))
    mace = sorted(e["DTSTART"].dt for e in events if e["SUMMARY"] == "MACE")
    assert [d.date() for d in mace] == [date(2026, 11, 24), date(2026, 12, 8), date(2026, 12, 22)]
    assert {(d.hour, d.minute) for d in mace} == {(14, 0)}


# -- a real calendar client ------------------------------------------------------------
KHAL = shutil.which("khal")


def _khal(tmp_path: Path, zone: str, ics_bytes: bytes, start: str, days: int) -> list[str]:
    cal_dir = tmp_path / f"cal-{zone.replace('/', '-')}"
    cal_dir.mkdir()
    config = tmp_path / f"khal-{zone.replace('/', '-')}.conf"
    config.write_text(
        f"[calendars]\n[[meetings]]\npath = {cal_dir}\ntype = calendar\n"
        "[locale]\ntimeformat = %H:%M\ndateformat = %Y-%m-%d\nlongdateformat = %Y-%m-%d\n"
        "datetimeformat = %Y-%m-%d %H:%M\nlongdatetimeformat = %Y-%m-%d %H:%M\n"
        f"default_timezone = {zone}\nlocal_timezone = {zone}\n"
        f"[sqlite]\npath = {tmp_path / (zone.replace('/', '-') + '.db')}\n")
    invite = tmp_path / "invite.ics"
    invite.write_bytes(ics_bytes)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    subprocess.run([KHAL, "-c", str(config), "import", "--batch", "-a", "meetings", str(invite)],
                   check=True, env=env, capture_output=True, timeout=60)
    out = subprocess.run([KHAL, "-c", str(config), "list", "--format", "{start} {end} {title}", "--day-format", "",
                          start, f"{days}d"], check=True, env=env, capture_output=True, text=True, timeout=60)
    return [line for line in out.stdout.splitlines() if line.strip()]


@pytest.mark.skipif(KHAL is None, reason="khal is not installed (apt-get install khal); CI installs it")
def test_khal_imports_the_invite_and_lists_the_same_occurrences(tmp_path):
    gone = datetime(2027, 3, 18, 10, 0, tzinfo=LONDON)
    data = series(exdates=[gone])
    expected = [d for d in EXPECTED if d != gone.date()]
    london = _khal(tmp_path, "Europe/London", ics.request(data), "2026-12-01", 730)
    assert london == [f"{d} 10:00 {d} 11:30 Missing Children Monitoring Meeting" for d in expected]
    # Shown in UTC, summer meetings are an hour earlier: khal read the VTIMEZONE/TZID itself.
    utc = _khal(tmp_path, "UTC", ics.request(data), "2026-12-01", 730)
    summer = {d for d in expected if datetime(d.year, d.month, d.day, 10, tzinfo=LONDON).utcoffset()}
    assert utc == [f"{d} {'09' if d in summer else '10'}:00 {d} {'10' if d in summer else '11'}:30 "
                   "Missing Children Monitoring Meeting" for d in expected]
    assert len(summer) == 14
