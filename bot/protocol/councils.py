"""Children across council boundaries, as pure rules (no SQL, no Slack).

- A child **placed by** another council (its looked-after child, placed in our area): that
  council is responsible for the child. When the child goes missing and when the child returns
  the team must tell it (statutory guidance 2014): one `council_notify` alert per event, naming the
  council and its contact from the protocol file. The return interview is the placing
  council's: `placed_by_interviews` decides what our clock does (`ours`: the usual reminders;
  `confirm`: instead, one reminder to confirm that the placing council has arranged it, when the
  usual first reminder would fall; `none`: nothing).
- A child **placed in** another council's area (ours, living there): when the child goes missing
  the alert names the host council, whose police and children's services must be told.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from bot.protocol.clock import Due, Ep, ri_deadline
from bot.protocol.config import Protocol

COUNCIL_NOTIFY = "council_notify"
RI_CONFIRM = "ri_confirm"
RULES = (COUNCIL_NOTIFY, RI_CONFIRM)
EVENTS = ("missing", "returned")


def notify_due(ep: Ep, event: str, *, placed_by: str | None, placed_in: str | None, protocol: Protocol,
               now: datetime, emailed: str = "") -> Due | None:
    """The notification an episode event asks for, or None (a child of ours placed in our area)."""
    if event not in EVENTS:
        raise ValueError(event)
    if placed_by:
        council, role = placed_by, "placing"
    elif placed_in and event == "missing":
        council, role = placed_in, "host"
    else:
        return None
    contact = protocol.contact(council)
    detail = {"council": council, "role": role, "event": event,
              "email": contact.email if contact else "", "phone": contact.phone if contact else ""}
    if emailed:
        detail["emailed"] = emailed
    if role == "placing" and event == "returned":
        detail["interviews"] = protocol.placed_by_interviews
    at = ep.started_at if event == "missing" else ep.returned_at
    return Due(key=f"{COUNCIL_NOTIFY}:{ep.id}:{event}", rule=COUNCIL_NOTIFY, child_id=ep.child_id, episode_id=ep.id,
               at=at or now, detail=detail)


def placing_council_interviews(placed_by: str | None, protocol: Protocol) -> bool:
    """Whether our usual interview reminders give way to the placing council's interview."""
    return bool(placed_by) and protocol.placed_by_interviews != "ours"


def ri_confirm_due(ep: Ep, placed_by: str | None, protocol: Protocol, now: datetime) -> list[Due]:
    """`confirm`: one reminder, when the first usual reminder would fall (or at the return when
    none is configured), to confirm the placing council has arranged the return interview. Not
    once an outcome is recorded, nor after the usual reminders would have stopped."""
    if not placed_by or protocol.placed_by_interviews != "confirm" or ep.returned_at is None or ep.ri_outcome:
        return []
    deadline = ri_deadline(ep.returned_at, protocol)
    before = max(protocol.interview_reminder_hours_before, default=0)
    at = max(ep.returned_at, deadline - timedelta(hours=before))
    if now < at or now > deadline + timedelta(days=protocol.overdue_reminder_days):
        return []
    return [Due(key=f"{RI_CONFIRM}:{ep.id}", rule=RI_CONFIRM, child_id=ep.child_id, episode_id=ep.id, at=at,
                detail={"council": placed_by, "deadline": deadline.isoformat(),
                        "returned_at": ep.returned_at.isoformat()})]
