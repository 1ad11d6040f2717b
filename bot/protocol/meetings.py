"""Monitoring meeting series: what a series is, when it meets, and when its agenda is due.

Pure: plain data in, datetimes out; nothing here reads a clock. A series recurs by an
RFC 5545 RRULE (default: the third Thursday of each month) at a wall-clock time in its
zone, so 10:00 stays 10:00 in London across the clock changes. Occurrences are expanded
with dateutil's rrule on naive local times and then placed in the zone."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from dateutil.rrule import rrulestr
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.protocol.words import valid_zone

DEFAULT_NAME = "Missing Children Monitoring Meeting"
DEFAULT_RRULE = "FREQ=MONTHLY;BYDAY=+3TH"
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_PERSON = re.compile(r"^\s*(?P<name>[^<]*?)\s*<(?P<email>[^>]+)>\s*$")
_AT_ALL = re.compile(r"@(?=(?:here|channel|everyone)\b)", re.IGNORECASE)
_AT_PERSON = re.compile(r"@(?:[UW][A-Z0-9]{6,}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")


def neutral(text: str) -> str:
    """Free text of a series (name, location, people's names) as plain words (the platform edges
    have already turned their markup into words, handlers/slack/text.py): nothing that would read
    as a broadcast or a person picked from a menu, nothing that reads as markup in a calendar."""
    text = _AT_PERSON.sub("someone", text)
    text = _AT_ALL.sub("", text.replace("<", "").replace(">", ""))
    return " ".join(text.split())


class Person(BaseModel):
    """A chair or attendee: a display name and an email address."""

    model_config = ConfigDict(extra="forbid")
    name: str = ""
    email: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return neutral(value)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip()
        if not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an email address")
        return value.lower()

    @classmethod
    def parse(cls, text: str) -> "Person":
        """`Jo Bloggs <jo@example.org>` or a bare address."""
        m = _PERSON.match(text)
        if m:
            return cls(name=m["name"].strip().strip('"'), email=m["email"])
        return cls(email=text)

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


class SeriesConfig(BaseModel):
    """One recurring meeting. Also the shape of a `[[meetings]]` entry in the protocol file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default=DEFAULT_NAME, min_length=1, max_length=120)
    rrule: str = Field(default=DEFAULT_RRULE, description="RFC 5545 RRULE without the 'RRULE:' prefix")
    start_time: time = time(10, 0)
    duration_minutes: int = Field(default=90, ge=5, le=24 * 60)
    timezone: str = "Europe/London"
    first_date: date | None = Field(default=None, description="series starts on or after this date; default: when set up")
    location: str = Field(default="", max_length=300, description="room, address or online meeting link")
    chair: Person | None = None
    attendees: list[Person] = Field(default_factory=list)
    channel: str = Field(default="", description="channel ID for invite and agenda; default ALERT_CHANNEL")
    lead_working_days: int = Field(default=2, ge=0, le=20, description="agenda built this many working days before")
    agenda_time: time = Field(default=time(9, 0), description="local time of day the agenda is built")

    @field_validator("name", "location")
    @classmethod
    def _plain(cls, value: str, info) -> str:
        value = neutral(value)
        if not value and info.field_name == "name":
            raise ValueError("a meeting needs a name in words (chat markup is taken out)")
        return value

    @field_validator("rrule")
    @classmethod
    def _rrule(cls, value: str) -> str:
        value = value.strip().removeprefix("RRULE:").upper()
        if "DTSTART" in value or "\n" in value:
            raise ValueError("give only the RRULE, e.g. FREQ=MONTHLY;BYDAY=+3TH")
        try:
            rule = rrulestr(value, dtstart=datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc))
            next(iter(rule), None)
        except (ValueError, TypeError) as exc:
            hint = " (UNTIL is in UTC, e.g. UNTIL=20271231T235959Z)" if "UNTIL" in str(exc) else ""
            raise ValueError(f"not a valid RRULE{hint}; e.g. FREQ=MONTHLY;BYDAY=+3TH") from None
        if "FREQ=SECONDLY" in value or "FREQ=MINUTELY" in value or "FREQ=HOURLY" in value:
            raise ValueError("a meeting recurs daily at most often")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return valid_zone(value)

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        value = value.strip()
        if value and not (value.isalnum() and value[0] in "CGD"):
            raise ValueError(f"{value!r} is not a channel ID (e.g. C0123456789)")
        return value

    @model_validator(mode="after")
    def _fits_in_a_day(self) -> "SeriesConfig":
        start = datetime.combine(date(2026, 1, 1), self.start_time)
        if (start + timedelta(minutes=self.duration_minutes)).date() != start.date():
            raise ValueError("a meeting must end on the day it starts")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)


def unique_names(protocol):
    """Protocol check: two `[[meetings]]` entries may not share a name."""
    seen: set[str] = set()
    for series in protocol.meetings:
        key = series.name.casefold()
        if key in seen:
            raise ValueError(f"meetings: two series are called {series.name!r}")
        seen.add(key)
    return protocol


class NoMeetingLeft(ValueError):
    """The rule (its UNTIL or COUNT) has no meeting on or after the series' first date."""


def first_occurrence_date(config: SeriesConfig, on_or_after: date) -> date:
    """The date of the first occurrence of the rule on or after `on_or_after` (the DTSTART date)."""
    anchor = datetime.combine(on_or_after, config.start_time, tzinfo=config.zone)
    rule = rrulestr(config.rrule, dtstart=anchor)
    first = rule.after(anchor, inc=True)
    if first is None:
        raise NoMeetingLeft(f"the rule {config.rrule} has no meeting on or after {on_or_after:%d %b %Y}")
    return first.date()


def _localise(naive: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time in `zone` (a time skipped by the spring change moves on an hour)."""
    return naive.replace(tzinfo=zone).astimezone(timezone.utc).astimezone(zone)


def occurrences(config: SeriesConfig, dtstart: date, start: datetime, end: datetime,
                skip: frozenset[datetime] | set[datetime] = frozenset()) -> list[datetime]:
    """Occurrence start times (aware, in the series' zone) with start <= t < end, minus `skip` (UTC instants)."""
    zone = config.zone
    # An aware DTSTART: dateutil keeps the wall-clock time and the zone gives each date its offset.
    rule = rrulestr(config.rrule, dtstart=datetime.combine(dtstart, config.start_time, tzinfo=zone))
    out = []
    for wall in rule.between(start - timedelta(days=1), end + timedelta(days=1), inc=True):
        t = _localise(wall.replace(tzinfo=None), zone)
        if start <= t < end and t.astimezone(timezone.utc) not in skip:
            out.append(t)
    return out


def next_occurrence(config: SeriesConfig, dtstart: date, after: datetime,
                    skip: frozenset[datetime] | set[datetime] = frozenset(), horizon_days: int = 800) -> datetime | None:
    """The first occurrence starting at or after `after`."""
    found = occurrences(config, dtstart, after, after + timedelta(days=horizon_days), skip)
    return found[0] if found else None


def previous_occurrence(config: SeriesConfig, dtstart: date, before: datetime,
                        skip: frozenset[datetime] | set[datetime] = frozenset(), horizon_days: int = 800) -> datetime | None:
    """The last occurrence starting strictly before `before` (cancelled ones skipped), or None."""
    found = occurrences(config, dtstart, before - timedelta(days=horizon_days), before, skip)
    return found[-1] if found else None


def review_period_start(config: SeriesConfig, dtstart: date, occurrence: datetime,
                        skip: frozenset[datetime] | set[datetime] = frozenset()) -> datetime:
    """Where the review period of `occurrence` begins: where the previous held meeting's agenda
    stopped looking, i.e. that agenda's build time (`agenda_due_at`). Agendas built on time then
    cover back-to-back periods: an episode that starts and ends between one agenda's build and
    its meeting is on the next agenda instead of on none.

    For the first meeting of a series there is no previous one: the rule is run back from
    before DTSTART to find where the previous meeting would have been."""
    prev = previous_occurrence(config, dtstart, occurrence, skip)
    if prev is None:
        early = dtstart - timedelta(days=400)
        prev = previous_occurrence(config, first_occurrence_date(config, early), occurrence, skip)
    return agenda_due_at(config, prev).astimezone(timezone.utc) if prev is not None else occurrence - timedelta(days=31)


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


def is_working_day(day: date) -> bool:
    """Monday to Friday and not an English bank holiday."""
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def working_days_before(day: date, n: int) -> date:
    """The date `n` working days before `day` (weekends and English bank holidays skipped)."""
    d = day
    while n > 0:
        d -= timedelta(days=1)
        if is_working_day(d):
            n -= 1
    return d


def agenda_due_at(config: SeriesConfig, occurrence: datetime) -> datetime:
    """When the agenda of `occurrence` is built: `lead_working_days` working days before, at `agenda_time`.

    With no lead time the agenda is built at `agenda_time` on the day, or at the start of the
    meeting when that is earlier."""
    zone = config.zone
    local = occurrence.astimezone(zone)
    day = working_days_before(local.date(), config.lead_working_days)
    due = _localise(datetime.combine(day, config.agenda_time), zone)
    return min(due, occurrence)


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_SPAN = re.compile(r"^(?:in\s+)?(\d{1,3})\s*(d|days?|w|weeks?)$")
DAY_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%d.%m.%Y")


def parse_day(text: str, today: date) -> date | None:
    """A calendar day people type: `2026-12-17`, `17/12/2026`, `today`, `tomorrow`, `friday`
    (the next one after today), `in 5 days`, `2w`. None when it is not one of these."""
    value = " ".join(text.strip().lower().split())
    if value == "today":
        return today
    if value == "tomorrow":
        return today + timedelta(days=1)
    for i, name in enumerate(_WEEKDAYS):
        if value in (name, name[:3], f"next {name}"):
            return today + timedelta(days=(i - today.weekday() - 1) % 7 + 1)
    m = _SPAN.match(value)
    if m:
        n = int(m[1])
        return today + timedelta(days=n * 7 if m[2].startswith("w") else n)
    for fmt in DAY_FORMATS:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


def describe_rrule(rrule: str) -> str:
    """A few common rules in words; anything else as written."""
    words = {
        "FREQ=MONTHLY;BYDAY=+3TH": "third Thursday of each month",
        "FREQ=MONTHLY;BYDAY=3TH": "third Thursday of each month",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU": "every other Tuesday",
        "FREQ=WEEKLY;BYDAY=TU;INTERVAL=2": "every other Tuesday",
    }
    return words.get(rrule.upper(), rrule)
