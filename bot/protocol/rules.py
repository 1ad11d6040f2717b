"""Record rules: what makes an episode, a return and an interview valid. Plain data and `now`."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Sequence

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


def ri_deadline(returned_at: datetime, protocol: Protocol) -> datetime:
    return returned_at + timedelta(hours=protocol.interview_hours)


def check_not_future(when: datetime, now: datetime, protocol: Protocol, what: str, example: str) -> None:
    if when > now + timedelta(minutes=protocol.future_grace_minutes):
        raise RuleError(f"The {what} time is in the future. Give a time up to now.", example)


def check_new_episode(started_at: datetime, history: Sequence[Span], now: datetime, protocol: Protocol,
                      example: str, child_ref: str = "C1234") -> None:
    """A new episode may start only when the child has no open episode and it overlaps none."""
    check_not_future(started_at, now, protocol, "start", example)
    for span in history:
        if span.returned_at is None:
            raise RuleError("This child is already recorded missing. Record the return first.",
                            f"/missing found {child_ref} at 14:30")
        if span.started_at <= started_at < span.returned_at:
            raise RuleError("That start falls inside an earlier episode of this child.", example)
        if started_at == span.started_at:
            raise RuleError("An episode of this child already starts at that time.", example)
        if started_at < span.started_at:
            raise RuleError("A later episode of this child is already recorded; the start must come after "
                            "the child's latest return.", example)


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
    return "overdue" if now > ri_deadline(returned_at, protocol) else "pending"
