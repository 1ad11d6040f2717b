"""Reading the `<when>` people type ("14:30", "yesterday 22:15", "2h ago", ...) into an aware UTC datetime.

`parse_when(text, now, zone)` is a pure function of its arguments. Rules:

- Case and surrounding whitespace are ignored.
- `now` is `now` itself.
- `2h ago`, `90m ago`, `1d ago`, `2 hours ago`, `45 mins ago`, `1h30m ago`: `now` minus that span
  (seconds of `now` are kept).
- A bare time of day (`14:30`, `9:05`, `2:30pm`, `2pm`) is the MOST RECENT occurrence of that local
  time: today's if it is not later than `now + grace_minutes`, otherwise yesterday's. It never
  means tomorrow.
- `today 14:30` / `yesterday 22:15`: that local time on that day. `today` or `yesterday` alone is refused.
- `2026-11-20 14:30`, `2026-11-20T14:30`, `20/11/2026 14:30`, `20/11/26 14:30` (two-digit years
  are 20YY): local time on that date. A date with no time is refused.
- ISO 8601 with an offset (`2026-11-20T14:30:00+01:00`, `...Z`) is taken as the exact instant given.
- Local times are read in `zone`. In the autumn repeated hour (e.g. 01:30 on 2026-10-25 in
  Europe/London happens twice) a date or `today`/`yesterday` takes the FIRST occurrence (fold=0,
  still summer time); a bare time, being the most recent, takes the second once it has happened
  (at 01:40 GMT, `01:30` is ten minutes ago, not seventy).
  A time in the spring gap (01:30 on 2026-03-29 in London never happened) is refused.
- Anything later than `now + grace_minutes` is refused as being in the future.

Every refusal is a `WhenError` (a ValueError) with `.message` (what was wrong) and `.example`
(a form that works); no other exception escapes for any input string.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from bot.protocol.words import Refusal

UTC = timezone.utc
MAX_LENGTH = 64

ACCEPTED_FORMS: list[str] = [
    "now",
    "14:30 or 2:30pm (the most recent 14:30: today, or yesterday if today's is still to come)",
    "today 14:30",
    "yesterday 22:15",
    "2h ago, 45m ago, 1d ago, 1h30m ago, 2 hours ago, 45 mins ago",
    "2026-11-20 14:30",
    "20/11/2026 14:30",
    "2026-11-20T14:30:00+01:00 (ISO 8601 with an offset, taken exactly)",
]


def format_examples() -> str:
    """The accepted forms as a bulleted list, for help text."""
    return "\n".join(f"• {form}" for form in ACCEPTED_FORMS)


class WhenError(Refusal):
    """A `<when>` that could not be read: `.message` says why, `.example` shows a form that works."""

    def __init__(self, message: str, example: str = "yesterday 22:15"):
        super().__init__(message, example)


_UNITS = {
    "d": "days", "day": "days", "days": "days",
    "h": "hours", "hr": "hours", "hrs": "hours", "hour": "hours", "hours": "hours",
    "m": "minutes", "min": "minutes", "mins": "minutes", "minute": "minutes", "minutes": "minutes",
}
_SPAN_PART = r"([0-9]+)\s*(days|day|d|hours|hour|hrs|hr|h|minutes|minute|mins|min|m)(?![a-z])"
_SPAN = re.compile(rf"(?:{_SPAN_PART}\s*)+")
_SPAN_PARTS = re.compile(_SPAN_PART)

_CLOCK_24 = re.compile(r"([0-9]{1,2})[:.]([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?")
_CLOCK_12 = re.compile(r"([0-9]{1,2})(?:[:.]([0-9]{2}))?\s*(am|pm)")
_OFFSET = re.compile(r"(.*?)\s*(z|([+-])([0-9]{2}):?([0-9]{2}))")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:(?:t|\s+)(.*))?")
_UK_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4}|[0-9]{2})(?:,?\s+(.*))?")


def parse_when(text: str, now: datetime, zone: ZoneInfo, *, grace_minutes: int = 5) -> datetime:
    """Read `text` as a moment no later than `now + grace_minutes`; see the module docstring for the forms."""
    if now.tzinfo is None:
        raise TypeError("now must be an aware datetime")
    now = now.astimezone(UTC)
    try:
        when = _parse(text, now, zone, grace_minutes)
        if when > now + timedelta(minutes=grace_minutes):
            shown = when.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            raise WhenError(f"that is in the future: {shown} is after now.", "2h ago")
    except WhenError:
        raise
    except (ValueError, OverflowError):
        raise WhenError(f"`{_show(text)}` is out of range for a time.", "2h ago") from None
    return when


def _show(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= 30 else text[:29] + "…"


def _parse(text: str, now: datetime, zone: ZoneInfo, grace: int) -> datetime:
    t = " ".join(text.lower().split())
    if not t:
        raise WhenError("no time given.", "now")
    if len(t) > MAX_LENGTH:
        raise WhenError("that is too long to be a time.", "2h ago")
    if t == "now":
        return now
    if t.endswith("ago"):
        return now - _span(t[:-3].strip())
    first, _, rest = t.partition(" ")
    if first in ("today", "yesterday"):
        if not rest:
            example = "today 14:30" if first == "today" else "yesterday 22:15"
            raise WhenError(f"`{first}` alone is ambiguous: add the time.", example)
        today = now.astimezone(zone).date()
        day = today if first == "today" else today - timedelta(days=1)
        return _local(day, _clock(rest), zone)
    if m := _ISO_DATE.fullmatch(t):
        year, month, day_, rest = m.groups()
        day = _date(int(year), int(month), int(day_))
        if not rest:
            raise WhenError("a date needs a time too.", f"{day.isoformat()} 14:30")
        if o := _OFFSET.fullmatch(rest):
            clock, zulu, sign, oh, om = o.groups()
            if zulu == "z":
                tz = UTC
            else:
                if int(oh) > 23 or int(om) > 59:
                    raise WhenError(f"`{zulu}` is not a time-zone offset.", "2026-11-20T14:30:00+01:00")
                offset = timedelta(hours=int(oh), minutes=int(om))
                tz = timezone(-offset if sign == "-" else offset)
            h, mi, s, us = _clock(clock)
            return datetime(day.year, day.month, day.day, h, mi, s, us, tzinfo=tz).astimezone(UTC)
        return _local(day, _clock(rest), zone)
    if m := _UK_DATE.fullmatch(t):
        day_, month, year, rest = m.groups()
        if int(month) > 12:
            raise WhenError(f"there is no month {int(month)}: dates are day/month/year, e.g. 20/11/2026 for "
                            "20 November.", "20/11/2026 14:30")
        day = _date(int(year) + (2000 if len(year) == 2 else 0), int(month), int(day_))
        if not rest:
            raise WhenError("a date needs a time too.", f"{day:%d/%m/%Y} 14:30")
        return _local(day, _clock(rest), zone)
    if re.fullmatch(r"[0-9]{3,4}", t):
        raise WhenError(f"put a colon in the time: `{t[:-2]}:{t[-2:]}`.", f"{t[:-2]}:{t[-2:]}")
    clock = _clock(t, nonsense=True)
    # A bare time of day: the most recent occurrence (today's, unless that is still to come).
    latest = now + timedelta(minutes=grace)
    today = now.astimezone(zone).date()
    for day in (today, today - timedelta(days=1)):
        when = _local(day, clock, zone)
        second = _second_occurrence(day, clock, zone)
        if second is not None and second <= latest:
            return second  # the autumn repeated hour, already gone round twice
        if when <= latest:
            return when
    return when


def _second_occurrence(day: date, clock: tuple[int, int, int, int], zone: ZoneInfo) -> datetime | None:
    """The second time a wall-clock time happened on `day` (the autumn repeated hour), else None."""
    wall = datetime(day.year, day.month, day.day, *clock)
    first, second = (wall.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1))
    return second if second != first else None


def _span(body: str) -> timedelta:
    if not _SPAN.fullmatch(body):
        raise WhenError("say how long ago with a number and a unit (d, h or m).", "2h ago")
    total = {"days": 0, "hours": 0, "minutes": 0}
    for number, unit in _SPAN_PARTS.findall(body):
        if len(number) > 9:
            raise WhenError("that is too long ago.", "2h ago")
        total[_UNITS[unit]] += int(number)
    return timedelta(**total)


def _clock(text: str, *, nonsense: bool = False) -> tuple[int, int, int, int]:
    """(hour, minute, second, microsecond) from `14:30`, `14.30`, `14:30:15`, `2:30pm` or `2pm`."""
    if m := _CLOCK_24.fullmatch(text):
        h, mi, s, frac = int(m[1]), int(m[2]), int(m[3] or 0), int((m[4] or "0").ljust(6, "0"))
        if h > 23:
            raise WhenError(f"there is no hour {h}: use 00 to 23.", "22:15")
    elif m := _CLOCK_12.fullmatch(text):
        h, mi, s, frac = int(m[1]), int(m[2] or 0), 0, 0
        if not 1 <= h <= 12:
            raise WhenError(f"with am/pm the hour is 1 to 12, not {h}.", "2:30pm")
        h = h % 12 + (12 if m[3] == "pm" else 0)
    elif nonsense:
        raise WhenError(
            f"I can't read `{_show(text)}` as a time: try now, 14:30, yesterday 22:15, 2h ago or 20/11/2026 14:30.",
            "yesterday 22:15",
        )
    else:
        raise WhenError(f"`{_show(text)}` is not a time of day.", "yesterday 22:15")
    if mi > 59 or s > 59:
        raise WhenError("minutes and seconds go up to 59.", "22:15")
    return h, mi, s, frac


def _date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise WhenError(f"there is no date {day:02d}/{month:02d}/{year:04d}.", "20/11/2026 14:30") from None


def _local(day: date, clock: tuple[int, int, int, int], zone: ZoneInfo) -> datetime:
    """Wall-clock `clock` on `day` in `zone` as UTC: first occurrence if repeated, refused if skipped."""
    wall = datetime(day.year, day.month, day.day, *clock)  # naive
    when = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if when.astimezone(zone).replace(tzinfo=None) != wall:
        after = when.astimezone(zone)
        raise WhenError(
            f"{wall:%Y-%m-%d %H:%M} did not happen in {zone.key}: the clocks went forward then.",
            f"{after:%Y-%m-%d %H:%M}",
        )
    return when
