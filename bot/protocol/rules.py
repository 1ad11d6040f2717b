"""Record rules: what makes an episode, a return and an interview valid. Plain data and `now`."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Sequence
from zoneinfo import ZoneInfo

from bot.protocol import clock
from bot.protocol.config import Protocol
from bot.protocol.words import Refusal


class RuleError(Refusal):
    """A change the protocol's rules refuse."""


@dataclass(frozen=True)
class Span:
    """An episode as far as the rules care: when it started and (maybe) ended."""

    started_at: datetime
    returned_at: datetime | None
    episode_type: str = "missing"


# One definition of the deadline, the clock's.
ri_deadline = clock.ri_deadline
ri_overdue = clock.ri_overdue


def check_not_future(when: datetime, now: datetime, protocol: Protocol, what: str, example: str) -> None:
    if when > now + timedelta(minutes=protocol.future_grace_minutes):
        raise RuleError(f"The {what} time is in the future. Give a time up to now.", example)


EARLIEST_YEAR = 1900  # an earlier date is a typing slip (or 0001-01-01 from an empty database field)


def check_plausible(when: datetime, dob: date | None, zone: ZoneInfo, what: str, example: str) -> None:
    """No episode before 1900 or before the child was born, wherever it comes from."""
    if when.year < EARLIEST_YEAR:
        raise RuleError(f"The {what} time is before {EARLIEST_YEAR}: check the year.", example)
    if dob is not None and when.astimezone(zone).date() < dob:
        raise RuleError(f"The {what} time is before the child's date of birth ({dob:%d/%m/%Y}).", example)


def _span_text(span: Span, zone: ZoneInfo | None) -> str:
    def show(dt: datetime) -> str:
        return dt.astimezone(zone).strftime("%d/%m/%Y %H:%M %Z") if zone else dt.isoformat()

    end = show(span.returned_at) if span.returned_at else "still open"
    return f"{show(span.started_at)} to {end}"


def check_span(started_at: datetime, returned_at: datetime | None, others: Sequence[Span], now: datetime,
               protocol: Protocol, example: str, child_ref: str = "C1234", *, dob: date | None = None,
               zone: ZoneInfo | None = None) -> None:
    """An episode [started_at, returned_at) may be recorded (or corrected to these times) when its
    times are plausible and it overlaps no other live episode of the child (`others`, which need
    only include those that could overlap). Police notifications arrive late, so an episode may
    start before the child's latest one, as long as it has ended before the next began."""
    check_not_future(started_at, now, protocol, "start", example)
    check_plausible(started_at, dob, zone or ZoneInfo("UTC"), "start", example)
    if returned_at is not None:
        check_return(started_at, returned_at, now, protocol, example)
    for span in sorted(others, key=lambda s: s.started_at):
        if span.started_at == started_at:
            raise RuleError("An episode of this child already starts at that time "
                            f"({_span_text(span, zone)}).", f"/missing status {child_ref}")
        other_end = span.returned_at
        overlaps = (returned_at is None or span.started_at < returned_at) and \
                   (other_end is None or started_at < other_end)
        if not overlaps:
            continue
        if span.returned_at is None and returned_at is None:
            raise RuleError("This child is already recorded missing. Record the return first.",
                            f"/missing found {child_ref} at 14:30")
        if returned_at is None and span.started_at > started_at:
            raise RuleError(f"A later episode of this child is recorded ({_span_text(span, zone)}). "
                            "For an earlier episode reported late, give its return time too.",
                            f"/missing report {child_ref} at 2026-11-01 22:00 returned 2026-11-02 09:30")
        raise RuleError(f"That would overlap another episode of this child ({_span_text(span, zone)}).", example)


def check_new_episode(started_at: datetime, history: Sequence[Span], now: datetime, protocol: Protocol,
                      example: str, child_ref: str = "C1234") -> None:
    """A new open episode: see `check_span`."""
    check_span(started_at, None, history, now, protocol, example, child_ref)


def check_return(started_at: datetime, returned_at: datetime, now: datetime, protocol: Protocol, example: str) -> None:
    check_not_future(returned_at, now, protocol, "return", example)
    if returned_at < started_at:
        raise RuleError("The return cannot come before the episode started.", example)


def ri_state(returned_at: datetime | None, ri_outcome: str | None, now: datetime, protocol: Protocol) -> str:
    """`open`, `pending`, `overdue`, or the outcome."""
    if returned_at is None:
        return "open"
    if ri_outcome:
        return ri_outcome
    # Overdue from the deadline itself, as the clock says (its overdue alert falls due then).
    return "overdue" if ri_overdue(returned_at, protocol, now) else "pending"
