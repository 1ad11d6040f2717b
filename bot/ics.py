"""RFC 5545 calendars of meeting series, for invites (iTIP REQUEST / CANCEL) and the feed.

One series is one VEVENT with a stable UID and an RRULE in its own zone (with a VTIMEZONE);
SEQUENCE rises each time the series changes, so calendar clients update the meeting rather
than add a second one. A cancelled occurrence is an EXDATE on the series, and is announced
with METHOD:CANCEL and its RECURRENCE-ID. An occurrence whose agenda has been built is an
override VEVENT (same UID, RECURRENCE-ID) carrying the agenda as DESCRIPTION."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from icalendar import Calendar, Event, Timezone, vCalAddress, vRecur, vText

from bot.protocol.meetings import SeriesConfig, describe_rrule

PRODID = "-//missing-bot//monitoring meetings//EN"
NO_REPLY = "noreply@missing-bot.invalid"
MAX_DESCRIPTION = 30_000


@dataclass
class SeriesData:
    """What the calendar needs to know of one series (built by store/meetings.py)."""

    uid: str
    config: SeriesConfig
    dtstart: date
    sequence: int
    created: datetime
    cancelled: bool = False
    exdates: list[datetime] = field(default_factory=list)  # cancelled occurrence starts
    agendas: dict[datetime, str] = field(default_factory=dict)  # occurrence start -> agenda text

    @property
    def first_start(self) -> datetime:
        return datetime.combine(self.dtstart, self.config.start_time, tzinfo=self.config.zone)


def _address(email: str, name: str, **params: str) -> vCalAddress:
    addr = vCalAddress(f"mailto:{email}")
    if name:
        addr.params["CN"] = vText(name)
    for key, value in params.items():
        addr.params[key.replace("_", "-").upper()] = vText(value)
    return addr


def _people(event: Event, config: SeriesConfig) -> None:
    chair = config.chair
    event.add("organizer", _address(chair.email, chair.name) if chair else _address(NO_REPLY, "missing-bot"))
    for person in config.attendees:
        event.add("attendee", _address(person.email, person.name, role="REQ-PARTICIPANT", partstat="NEEDS-ACTION",
                                       rsvp="TRUE", cutype="INDIVIDUAL"))


def _description(config: SeriesConfig) -> str:
    lead = config.lead_working_days
    text = f"{config.name}, {describe_rrule(config.rrule)}. The agenda is posted in Slack"
    text += f" {lead} working day{'s' if lead != 1 else ''} before each meeting." if lead else " on the day."
    if config.chair:
        text += f"\nChair: {config.chair.name or config.chair.email}"
    return text


def _common(event: Event, data: SeriesData, now: datetime) -> None:
    event.add("uid", data.uid)
    event.add("dtstamp", now.astimezone(timezone.utc))
    event.add("sequence", data.sequence)
    event.add("summary", data.config.name)
    if data.config.location:
        event.add("location", data.config.location)
    _people(event, data.config)


def master_event(data: SeriesData, now: datetime) -> Event:
    config = data.config
    event = Event()
    _common(event, data, now)
    start = data.first_start
    event.add("dtstart", start)
    event.add("dtend", start + config.duration)
    event.add("rrule", vRecur.from_ical(config.rrule))
    zone = config.zone
    for t in sorted(data.exdates):
        event.add("exdate", t.astimezone(zone))
    event.add("created", data.created.astimezone(timezone.utc))
    event.add("last-modified", now.astimezone(timezone.utc))
    event.add("description", _description(config))
    event.add("status", "CANCELLED" if data.cancelled else "CONFIRMED")
    event.add("transp", "OPAQUE")
    return event


def occurrence_event(data: SeriesData, start: datetime, now: datetime, *, description: str = "",
                     cancelled: bool = False) -> Event:
    """An override of one occurrence (RECURRENCE-ID): its agenda, or its cancellation."""
    local_start = start.astimezone(data.config.zone)
    event = Event()
    _common(event, data, now)
    event.add("recurrence-id", local_start)
    event.add("dtstart", local_start)
    event.add("dtend", local_start + data.config.duration)
    if description:
        if len(description) > MAX_DESCRIPTION:
            description = description[:MAX_DESCRIPTION] + "\n\n(Agenda shortened; the full agenda is in Slack.)"
        event.add("description", description)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    return event


def _calendar(method: str | None, series: list[SeriesData], now: datetime) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if method:
        cal.add("method", method)
    zones = sorted({s.config.timezone for s in series})
    for tzid in zones:
        first = min(s.dtstart for s in series if s.config.timezone == tzid) - timedelta(days=366)
        last = max(now.date(), first) + timedelta(days=366 * 20)
        cal.add_component(Timezone.from_tzid(tzid, first_date=first, last_date=last))
    return cal


def _with_overrides(cal: Calendar, data: SeriesData, now: datetime) -> None:
    cal.add_component(master_event(data, now))
    if data.cancelled:
        return
    skipped = set(data.exdates)
    for start, text in sorted(data.agendas.items()):
        if start not in skipped:
            cal.add_component(occurrence_event(data, start, now, description=text))


def request(data: SeriesData, now: datetime) -> bytes:
    """METHOD:REQUEST: the whole series (with its agendas) for one invite."""
    cal = _calendar("REQUEST", [data], now)
    _with_overrides(cal, data, now)
    return cal.to_ical()


def cancel_series(data: SeriesData, now: datetime) -> bytes:
    """METHOD:CANCEL of the whole series."""
    cal = _calendar("CANCEL", [data], now)
    cal.add_component(master_event(SeriesData(**{**data.__dict__, "cancelled": True}), now))
    return cal.to_ical()


def cancel_occurrence(data: SeriesData, start: datetime, now: datetime) -> bytes:
    """METHOD:CANCEL of one occurrence (RECURRENCE-ID), the series carrying on."""
    cal = _calendar("CANCEL", [data], now)
    cal.add_component(occurrence_event(data, start, now, cancelled=True))
    return cal.to_ical()


def feed(series: list[SeriesData], now: datetime) -> bytes:
    """A subscription feed of every series (no METHOD: a published calendar, not an invite)."""
    cal = _calendar(None, series, now)
    cal.add("x-wr-calname", "Missing children meetings")
    for data in series:
        _with_overrides(cal, data, now)
    return cal.to_ical()
