"""The protocol clock as pure rules: given episodes, the protocol and `now`, which alerts are due.

No SQL and no Slack here: the sweep (scheduler/sweep.py) and the record's hooks (store/alerts.py)
load plain `Ep` values, call these functions, and store each `Due` under its unique `key`, so the
same alert can be enqueued at most once however many processes ask.

Decisions (documented in the README's protocol table):
- Hours are elapsed hours: the RI deadline is return + `interview_hours` (72 h), whatever the
  clocks do; long-missing thresholds count elapsed hours from the start.
- Persistence windows are calendar days in the council's zone: an episode started at 10:00 on
  28 September still counts "within 30 days" until 10:00 on 28 October, across the BST/GMT change.
  The count at an instant t is the number of episodes started in (t - days, t]: an episode
  stops counting at its start + `days` calendar days (`window_end`).
- `count_away_long_missing` and `count_away_persistence` (each defaulting to `count_away_episodes`,
  true, as SSDA903 counts both) decide, rule by rule, whether away-from-placement episodes count:
  an open away episode raising the long-missing alerts, and away episodes in the persistence
  count. Return interviews and high-risk alerts apply to every episode.
- Stale occurrences collapse: after downtime only the latest overdue repeat is due, a "24 h
  remain" reminder is not sent once the deadline has passed, and only the latest persistence
  crossing is considered, and only while the count is still at or above the threshold.
- Daily overdue reminders stop `overdue_reminder_days` after the deadline (imported history
  without an outcome must not page the team daily for ever); the agenda still lists them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from bot.protocol.config import PersistenceRule, Protocol

RI_REMINDER = "ri_reminder"
RI_OVERDUE = "ri_overdue"
LONG_MISSING = "long_missing"
PERSISTENCE = "persistence"
HIGH_RISK = "high_risk"
RULES = (RI_REMINDER, RI_OVERDUE, LONG_MISSING, PERSISTENCE, HIGH_RISK)


@dataclass(frozen=True)
class Ep:
    """What the rules need to know about one episode."""

    id: int
    child_id: int
    started_at: datetime
    returned_at: datetime | None = None
    episode_type: str = "missing"
    risk_grade: str | None = None
    ri_outcome: str | None = None


@dataclass(frozen=True)
class Due:
    """One alert that is due. `key` is unique per (rule, subject, occurrence)."""

    key: str
    rule: str
    child_id: int
    episode_id: int | None
    at: datetime  # the instant it fell due (the "since" shown to people)
    detail: dict = field(default_factory=dict)


def counts(ep, protocol: Protocol, rule: str | None = None) -> bool:
    """Whether this episode counts toward `rule` (LONG_MISSING or PERSISTENCE): a missing episode
    always does; an away-from-placement one as the protocol file says for that rule
    (`count_away_episodes` when no rule is named). `ep` is anything with an `episode_type` (the
    clock's `Ep`, the agenda's episodes)."""
    if getattr(ep, "episode_type", "missing") != "away":
        return True
    if rule is None:
        return protocol.count_away_episodes
    if rule == LONG_MISSING:
        return bool(protocol.count_away_long_missing)
    if rule == PERSISTENCE:
        return bool(protocol.count_away_persistence)
    raise ValueError(f"no away rule for {rule!r}")


# -- return interviews -----------------------------------------------------------------------
def ri_deadline(returned_at: datetime, protocol: Protocol) -> datetime:
    """The return interview deadline: `interview_hours` elapsed hours after the return."""
    return returned_at + timedelta(hours=protocol.interview_hours)


def ri_overdue(returned_at: datetime, protocol: Protocol, now: datetime) -> bool:
    """Overdue from the deadline's instant on (when the clock's overdue alert fires)."""
    return now >= ri_deadline(returned_at, protocol)


def interview_due(ep: Ep, protocol: Protocol, now: datetime) -> list[Due]:
    """Reminder when `h` hours remain (for each configured h); overdue at the deadline; then one
    repeat every `overdue_repeat_hours` while no outcome is recorded. Only the latest is due."""
    if ep.returned_at is None or ep.ri_outcome is not None:
        return []
    deadline = ri_deadline(ep.returned_at, protocol)
    detail = {"deadline": deadline.isoformat(), "returned_at": ep.returned_at.isoformat()}
    if now < deadline:
        remaining = [h for h in protocol.interview_reminder_hours_before if deadline - timedelta(hours=h) <= now]
        if not remaining:
            return []
        h = min(remaining)  # the most recent reminder point; earlier ones are stale
        return [Due(f"{RI_REMINDER}:{h}h:ep:{ep.id}", RI_REMINDER, ep.child_id, ep.id,
                    deadline - timedelta(hours=h), {**detail, "hours_left": h})]
    repeat = timedelta(hours=protocol.overdue_repeat_hours)
    if now >= deadline + timedelta(days=protocol.overdue_reminder_days):
        return []
    n = int((now - deadline) / repeat)
    return [Due(f"{RI_OVERDUE}:ep:{ep.id}:{n}", RI_OVERDUE, ep.child_id, ep.id, deadline + n * repeat,
                {**detail, "occurrence": n})]


# -- long missing ----------------------------------------------------------------------------
def long_missing_due(ep: Ep, protocol: Protocol, now: datetime) -> list[Due]:
    """An open episode that has lasted `h` hours, for each configured threshold."""
    if ep.returned_at is not None or not counts(ep, protocol, LONG_MISSING):
        return []
    out = []
    for hours, action in zip(protocol.long_missing_hours, protocol.long_missing_actions):
        at = ep.started_at + timedelta(hours=hours)
        if now >= at:
            out.append(Due(f"{LONG_MISSING}:{hours}h:ep:{ep.id}", LONG_MISSING, ep.child_id, ep.id, at,
                           {"hours": hours, "action": action, "started_at": ep.started_at.isoformat()}))
    return out


# -- persistence -----------------------------------------------------------------------------
def window_start(t: datetime, days: int, zone: ZoneInfo) -> datetime:
    """The start of the `days`-day window ending at `t`, in calendar days of `zone` (for views that
    query "episodes since"; the rules below use `window_end`)."""
    return (t.astimezone(zone) - timedelta(days=days)).astimezone(timezone.utc)


def window_end(start: datetime, days: int, zone: ZoneInfo) -> datetime:
    """The instant an episode started at `start` stops counting in a `days`-day window."""
    return (start.astimezone(zone) + timedelta(days=days)).astimezone(timezone.utc)


def count_at(starts: list[datetime], t: datetime, days: int, zone: ZoneInfo) -> int:
    """Episodes counting at `t`: started at or before it, not yet out of the window. Measured from
    each start with `window_end`, like `crossings`, so the two agree even for a start in the hour
    the autumn change repeats (subtracting days from `t` cannot tell which 01:30 it meant)."""
    return sum(1 for s in starts if s <= t < window_end(s, days, zone))


def crossings(starts: list[datetime], rule: PersistenceRule, zone: ZoneInfo, until: datetime) -> list[datetime]:
    """Every instant up to `until` at which the count rose from below `rule.episodes` to reach it.

    The count rises at each start and falls when a start leaves the window; a crossing is a start
    at which the count reaches the threshold having been below it just before."""
    events: list[tuple[datetime, int]] = []
    for s in starts:
        if s <= until:
            events.append((s, +1))
            events.append((window_end(s, rule.days, zone), -1))
    # At equal instants, leaving happens before arriving: (t - days, t] excludes the old start.
    events.sort(key=lambda e: (e[0], e[1]))
    out, count = [], 0
    for t, step in events:
        if t > until:
            break
        before = count
        count += step
        if step > 0 and before < rule.episodes <= count:
            out.append(t)
    return out


def rule_name(rule: PersistenceRule) -> str:
    return f"{rule.episodes}in{rule.days}d"


def persistence_due(child_id: int, eps: list[Ep], rule: PersistenceRule, protocol: Protocol, zone: ZoneInfo,
                    now: datetime, last_fired: datetime | None) -> Due | None:
    """The latest crossing of `rule`, if it has not fired yet and the count is still at or above
    the threshold now. `last_fired` is the crossing instant of this rule's last alert for the
    child: a new alert needs a crossing after it, which means the count fell below and rose again.
    (A back-dated episode that moves a crossing earlier therefore does not alert twice.)"""
    counted = [e for e in eps if counts(e, protocol, PERSISTENCE)]
    starts = sorted(e.started_at for e in counted)
    found = crossings(starts, rule, zone, now)
    if not found:
        return None
    latest = found[-1]
    if last_fired is not None and latest <= last_fired:
        return None
    n = count_at(starts, now, rule.days, zone)
    if n < rule.episodes:
        return None
    episode = next(e for e in counted if e.started_at == latest)
    away = count_at([e.started_at for e in counted if e.episode_type == "away"], latest, rule.days, zone)
    return Due(f"{PERSISTENCE}:{rule_name(rule)}:child:{child_id}:{latest.isoformat()}", PERSISTENCE, child_id,
               episode.id, latest, {"episodes": rule.episodes, "days": rule.days, "action": rule.action,
                                    "count": count_at(starts, latest, rule.days, zone), "rule": rule_name(rule),
                                    "away": away})


# -- high risk -------------------------------------------------------------------------------
def high_risk_due(ep: Ep, protocol: Protocol, old_grade: str | None, now: datetime) -> Due | None:
    """An open episode reported `high`, or re-graded to `high` from anything else."""
    if not protocol.high_risk_alert or ep.risk_grade != "high" or old_grade == "high" or ep.returned_at is not None:
        return None
    return Due(f"{HIGH_RISK}:ep:{ep.id}:{now.isoformat()}", HIGH_RISK, ep.child_id, ep.id, now,
               {"old_grade": old_grade, "started_at": ep.started_at.isoformat()})
