"""RFC 5545 calendars of meeting series, for invites (iTIP REQUEST / CANCEL) and the feed.

One series is one VEVENT with a stable UID and an RRULE in its own zone, with a VTIMEZONE in
the form Outlook, Google and Apple write themselves: one STANDARD and one DAYLIGHT part, each a
yearly RRULE, so it is right for any date (a zone whose changes no yearly rule describes falls
back to dated transitions). SEQUENCE rises when the series changes; a cancelled occurrence is
an EXDATE on the series, announced to attendees as METHOD:CANCEL with its RECURRENCE-ID.

Invites describe the meeting, never a child: the agenda is not in them (it is emailed and posted
on its own). DTSTAMP and LAST-MODIFIED are the series' last change, so the same series gives the
same bytes every time (a feed that has not changed is not re-downloaded)."""
from __future__ import annotations

import calendar as pycal
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from icalendar import Calendar, Event, Timezone, TimezoneDaylight, TimezoneStandard, vCalAddress, vRecur, vText

from bot.protocol.meetings import SeriesConfig, describe_rrule

PRODID = "-//missing-bot//monitoring meetings//EN"
NO_REPLY = "noreply@missing-bot.invalid"


@dataclass
class SeriesData:
    """What the calendar needs to know of one series (built by store/meetings.py)."""

    uid: str
    config: SeriesConfig
    dtstart: date
    sequence: int
    created: datetime
    updated: datetime | None = None  # the last change (DTSTAMP, LAST-MODIFIED); default: created
    cancelled: bool = False
    exdates: list[datetime] = field(default_factory=list)  # cancelled occurrence starts
    sent_by: str = ""  # the bot's own address (SMTP_FROM): SENT-BY of the chair, or the organizer without one

    @property
    def first_start(self) -> datetime:
        return datetime.combine(self.dtstart, self.config.start_time, tzinfo=self.config.zone)

    @property
    def stamp(self) -> datetime:
        return (self.updated or self.created).astimezone(timezone.utc)


# -- VTIMEZONE ---------------------------------------------------------------------------------
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
RULE_YEARS = range(2026, 2101)  # a rule must give every change the zone has in these years
FALLBACK_YEARS = (date(2020, 1, 1), date(2100, 1, 1))


@dataclass(frozen=True)
class Onset:
    """One kind of yearly change of a zone: to summer time (DAYLIGHT) or back (STANDARD)."""

    daylight: bool
    offset_from: timedelta
    offset_to: timedelta
    name: str
    wall: datetime  # local time (before the change) of its first instance from 1970
    rrule: str  # empty: a zone without changes


def _transitions(zone: ZoneInfo, year: int) -> list[tuple[datetime, timedelta, timedelta]]:
    """(UTC instant, offset before, offset after) of each change of offset in `year`."""
    out = []
    t, end = datetime(year, 1, 1, tzinfo=timezone.utc), datetime(year + 1, 1, 1, tzinfo=timezone.utc)
    before = t.astimezone(zone).utcoffset()
    while t < end:
        nxt = t + timedelta(days=1)
        after = nxt.astimezone(zone).utcoffset()
        if after != before:
            lo, hi = t, nxt
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if mid.astimezone(zone).utcoffset() == before else (lo, mid)
            out.append((hi.replace(microsecond=0), before, after))
            before = after
        t = nxt
    return out


def _candidates(day: date) -> list[str]:
    """The BY... parts of yearly rules that give `day`, the usual forms first."""
    wd = WEEKDAYS[day.weekday()]
    out = [f"BYMONTH={day.month};BYDAY={(day.day - 1) // 7 + 1}{wd}"]
    if day.day > pycal.monthrange(day.year, day.month)[1] - 7:
        out.insert(0, f"BYMONTH={day.month};BYDAY=-1{wd}")
    # "the weekday on or after the Nth" (e.g. the Friday before the last Sunday: Friday on or after the 23rd)
    for first in range(max(1, day.day - 6), day.day + 1):
        if first + 6 <= 31:
            out.append(f"BYMONTH={day.month};BYDAY={wd};BYMONTHDAY={','.join(str(d) for d in range(first, first + 7))}")
    out.append(f"BYMONTH={day.month};BYMONTHDAY={day.day}")
    return out


def _rule_days(rule: str, year: int) -> list[date]:
    r = rrulestr("FREQ=YEARLY;" + rule, dtstart=datetime(year, 1, 1))
    return [d.date() for d in r.between(datetime(year, 1, 1), datetime(year, 12, 31, 23, 59), inc=True)]


@lru_cache(maxsize=32)
def onsets(tzid: str) -> tuple[Onset, ...] | None:
    """The zone's changes as yearly rules (one STANDARD, one DAYLIGHT; or one STANDARD for a zone
    without summer time), checked against every change in RULE_YEARS; None when no yearly rule fits."""
    zone = ZoneInfo(tzid)
    changes = [c for y in RULE_YEARS for c in _transitions(zone, y)]
    if not changes:
        jan = datetime(RULE_YEARS[0], 1, 1, tzinfo=zone)
        return (Onset(False, jan.utcoffset(), jan.utcoffset(), jan.tzname(), datetime(1970, 1, 1), ""),)
    out = []
    for to_summer in (True, False):
        group = [c for c in changes if (c[2] > c[1]) == to_summer]
        if not group or len({(c[1], c[2]) for c in group}) != 1:
            return None
        walls = [instant.replace(tzinfo=None) + before for instant, before, _ in group]
        if len({w.time() for w in walls}) != 1 or [w.year for w in walls] != list(RULE_YEARS):
            return None
        rule = next((r for r in _candidates(walls[0].date())
                     if all(_rule_days(r, w.year) == [w.date()] for w in walls)), None)
        if rule is None:
            return None
        out.append(Onset(to_summer, group[0][1], group[0][2], group[0][0].astimezone(zone).tzname() or "",
                         datetime.combine(_rule_days(rule, 1970)[0], walls[0].time()), "FREQ=YEARLY;" + rule))
    return tuple(out)


def vtimezone(tzid: str) -> Timezone:
    found = onsets(tzid)
    if found is None:  # e.g. a zone whose summer time follows a lunar calendar: dated changes
        return Timezone.from_tzid(tzid, first_date=FALLBACK_YEARS[0], last_date=FALLBACK_YEARS[1])
    tz = Timezone()
    tz.add("tzid", tzid)
    for onset in sorted(found, key=lambda o: not o.daylight):
        part = TimezoneDaylight() if onset.daylight else TimezoneStandard()
        part.add("dtstart", onset.wall)
        if onset.rrule:
            part.add("rrule", vRecur.from_ical(onset.rrule))
        part.add("tzoffsetfrom", onset.offset_from)
        part.add("tzoffsetto", onset.offset_to)
        if onset.name:
            part.add("tzname", onset.name)
        tz.add_component(part)
    return tz


# -- events ------------------------------------------------------------------------------------
def _address(email: str, name: str, **params: str) -> vCalAddress:
    addr = vCalAddress(f"mailto:{email}")
    if name:
        addr.params["CN"] = vText(name)
    for key, value in params.items():
        addr.params[key.replace("_", "-").upper()] = vText(value)
    return addr


def attendees(config: SeriesConfig) -> list:
    """Who is invited: the attendees, never the chair (the chair organises the meeting)."""
    chair = config.chair.email if config.chair else None
    seen, out = set(), []
    for person in config.attendees:
        if person.email != chair and person.email not in seen:
            seen.add(person.email)
            out.append(person)
    return out


def _people(event: Event, data: SeriesData) -> None:
    chair = data.config.chair
    if chair:
        sent_by = {"sent_by": f"mailto:{data.sent_by}"} if data.sent_by and data.sent_by != chair.email else {}
        event.add("organizer", _address(chair.email, chair.name, **sent_by))
    else:
        event.add("organizer", _address(data.sent_by or NO_REPLY, "missing-bot"))
    for person in attendees(data.config):
        event.add("attendee", _address(person.email, person.name, role="REQ-PARTICIPANT", partstat="NEEDS-ACTION",
                                       rsvp="TRUE", cutype="INDIVIDUAL"))


def description(config: SeriesConfig) -> str:
    """What the meeting is, the period each meeting reviews and how to get its agenda: never a child."""
    text = (f"{config.name}, {describe_rrule(config.rrule)}: the multi-agency meeting that reviews the children "
            "reported missing from home or care.\n"
            "Period reviewed: from when the previous meeting's agenda was prepared to when this meeting's is.\n"
            "Agenda: sent before each meeting to the chair and attendees by email, and posted in the team's Slack "
            "channel (/missing agenda). Children's details are never put in calendar invites.")
    if config.chair:
        text += f"\nChair: {config.chair.name or config.chair.email}"
    return text


def _common(event: Event, data: SeriesData) -> None:
    event.add("uid", data.uid)
    event.add("dtstamp", data.stamp)
    event.add("sequence", data.sequence)
    event.add("summary", data.config.name)
    if data.config.location:
        event.add("location", data.config.location)
    _people(event, data)


def master_event(data: SeriesData) -> Event:
    config = data.config
    event = Event()
    _common(event, data)
    start = data.first_start
    event.add("dtstart", start)
    event.add("dtend", start + config.duration)
    event.add("rrule", vRecur.from_ical(config.rrule))
    for t in sorted(data.exdates):
        event.add("exdate", t.astimezone(config.zone))
    event.add("created", data.created.astimezone(timezone.utc))
    event.add("last-modified", data.stamp)
    event.add("description", description(config))
    event.add("status", "CANCELLED" if data.cancelled else "CONFIRMED")
    event.add("transp", "OPAQUE")
    return event


def occurrence_event(data: SeriesData, start: datetime, *, cancelled: bool = False) -> Event:
    """An override of one occurrence (RECURRENCE-ID): its cancellation."""
    local_start = start.astimezone(data.config.zone)
    event = Event()
    _common(event, data)
    event.add("recurrence-id", local_start)
    event.add("dtstart", local_start)
    event.add("dtend", local_start + data.config.duration)
    event.add("description", description(data.config))
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    return event


def _calendar(method: str | None, series: list[SeriesData]) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if method:
        cal.add("method", method)
    for tzid in sorted({s.config.timezone for s in series}):
        cal.add_component(vtimezone(tzid))
    return cal


def request(data: SeriesData) -> bytes:
    """METHOD:REQUEST: the whole series (its cancelled dates as EXDATEs)."""
    cal = _calendar("REQUEST", [data])
    cal.add_component(master_event(data))
    return cal.to_ical()


def cancel_series(data: SeriesData) -> bytes:
    """METHOD:CANCEL of the whole series."""
    cal = _calendar("CANCEL", [data])
    cal.add_component(master_event(SeriesData(**{**data.__dict__, "cancelled": True})))
    return cal.to_ical()


def cancel_occurrence(data: SeriesData, start: datetime) -> bytes:
    """METHOD:CANCEL of one occurrence (RECURRENCE-ID), the series carrying on."""
    cal = _calendar("CANCEL", [data])
    cal.add_component(occurrence_event(data, start, cancelled=True))
    return cal.to_ical()


def feed(series: list[SeriesData]) -> bytes:
    """A subscription feed of every series (no METHOD: a published calendar, not an invite)."""
    cal = _calendar(None, series)
    cal.add("x-wr-calname", "Missing children meetings")
    for data in series:
        cal.add_component(master_event(data))
    return cal.to_ical()
