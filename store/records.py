"""The changes a user can make, each inside the caller's transaction (`ctx.session`).

Each change checks the protocol's rules, writes the record, an audit row, the channel line
(outbox) and whatever the clock hooks enqueue — all in that one transaction, so either all of
it happens or none of it does. Slack, the console and later Teams all call these functions."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from bot.context import Ctx
from bot.protocol import rules
from bot.protocol.rules import RuleError, Span
from bot.render import local, who
from store import alerts
from store.audit import audit, snapshot
from store.db import INCLUDE_WITHDRAWN
from store.models import AuditRecord, Child, Episode, Outbox
from store.outbox import enqueue

CHILD_FIELDS = ("label", "date_of_birth", "gender", "looked_after", "placement_type", "out_of_area", "worker_user_id")


class NotFound(RuleError):
    pass


# -- reads ---------------------------------------------------------------------------------

def get_child(session: Session, child_ref: str) -> Child | None:
    return session.scalar(select(Child).where(Child.child_ref == child_ref))


def require_child(session: Session, child_ref: str) -> Child:
    child = get_child(session, child_ref)
    if child is None:
        raise NotFound(f"No child with case reference {child_ref} is recorded.", f"/missing child {child_ref} label AB")
    return child


def open_episode(session: Session, child_id: int) -> Episode | None:
    return session.scalar(select(Episode).where(Episode.child_id == child_id, Episode.returned_at.is_(None)))


def latest_episode(session: Session, child_id: int) -> Episode | None:
    return session.scalar(select(Episode).where(Episode.child_id == child_id)
                          .order_by(Episode.started_at.desc()).limit(1))


def latest_ended_episode(session: Session, child_id: int) -> Episode | None:
    return session.scalar(select(Episode).where(Episode.child_id == child_id, Episode.returned_at.is_not(None))
                          .order_by(Episode.started_at.desc()).limit(1))


def recent_episodes(session: Session, child_id: int, since: datetime) -> list[Episode]:
    return list(session.scalars(select(Episode).where(Episode.child_id == child_id, Episode.started_at > since)
                                .order_by(Episode.started_at.desc())))


def all_open(session: Session) -> list[tuple[Child, Episode]]:
    rows = session.execute(select(Child, Episode).join(Episode, Episode.child_id == Child.id)
                           .where(Episode.returned_at.is_(None)).order_by(Episode.started_at))
    return [(c, e) for c, e in rows]


def interviews_due(session: Session, protocol, now: datetime, horizon_hours: int = 72) -> list[tuple[Child, Episode]]:
    """Ended episodes without an outcome whose deadline is within the horizon, or passed; soonest first."""
    latest_return = now + timedelta(hours=horizon_hours) - timedelta(hours=protocol.interview_hours)
    rows = session.execute(select(Child, Episode).join(Episode, Episode.child_id == Child.id)
                           .where(Episode.returned_at.is_not(None), Episode.ri_outcome.is_(None),
                                  Episode.returned_at <= latest_return)
                           .order_by(Episode.returned_at))
    return [(c, e) for c, e in rows]


def count_since(session: Session, child_id: int, since: datetime) -> int:
    return session.scalar(select(func.count()).select_from(Episode)
                          .where(Episode.child_id == child_id, Episode.started_at > since)) or 0


def lock_child(session: Session, child: Child) -> None:
    """Hold the child's row lock until the transaction ends, and forget what this session has read
    of the child's episodes, so every check after it sees what colleagues (and other processes)
    have committed. Every change to a child's episodes calls this first. PostgreSQL: SELECT ... FOR
    UPDATE; SQLite serialises writers already (BEGIN IMMEDIATE, store/db.py)."""
    session.execute(select(Child.id).where(Child.id == child.id).with_for_update())
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Episode) and obj.child_id == child.id:
            session.expire(obj)


def overlapping(session: Session, child_id: int, start: datetime, end: datetime | None,
                exclude_id: int | None = None) -> list[Span]:
    """Live episodes of the child that [start, end) could overlap or share its start with."""
    q = select(Episode).where(Episode.child_id == child_id,
                              or_(Episode.returned_at.is_(None), Episode.returned_at >= start))
    if end is not None:
        q = q.where(Episode.started_at <= end)
    if exclude_id is not None:
        q = q.where(Episode.id != exclude_id)
    return [Span(e.started_at, e.returned_at, e.episode_type) for e in session.scalars(q)]


def check_times(ctx: Ctx, child: Child, started_at: datetime, returned_at: datetime | None, example: str,
                exclude_id: int | None = None) -> None:
    others = overlapping(ctx.session, child.id, started_at, returned_at, exclude_id)
    rules.check_span(started_at, returned_at, others, ctx.now, ctx.protocol, example, child.child_ref,
                     dob=child.date_of_birth, zone=ctx.zone)


# -- changes -------------------------------------------------------------------------------

def _post(ctx: Ctx, kind: str, text: str, child: Child, episode: Episode | None = None) -> None:
    ident = episode.id if episode is not None else f"child{child.id}"
    enqueue(ctx.session, key=f"change:{kind}:{ident}:{ctx.now.isoformat()}", kind=f"change.{kind}",
            channel=ctx.settings.alert_channel, text=text, now=ctx.now, child_id=child.id,
            episode_id=episode.id if episode is not None else None,
            thread_key=f"episode:{episode.id}" if episode is not None else None)


@dataclass
class ChildResult:
    child: Child
    created: bool
    changed: dict


def upsert_child(ctx: Ctx, child_ref: str, fields: dict, *, create_only: bool = False) -> ChildResult:
    unknown = set(fields) - set(CHILD_FIELDS)
    if unknown:
        raise ValueError(f"unknown child fields {sorted(unknown)}")
    child = get_child(ctx.session, child_ref)
    created = child is None
    if created:
        child = Child(child_ref=child_ref, label="", gender="unknown", looked_after=False, placement_type="other",
                      out_of_area=False, created_at=ctx.now, updated_at=ctx.now)
        ctx.session.add(child)
        before = None
    elif create_only:
        raise RuleError(f"{child_ref} is already recorded.", f"/missing child {child_ref} label AB")
    else:
        before = snapshot(child, CHILD_FIELDS)
    if not created and fields.get("date_of_birth") is not None:
        lock_child(ctx.session, child)
        first = ctx.session.scalar(select(func.min(Episode.started_at)).where(Episode.child_id == child.id))
        if first is not None and first.astimezone(ctx.zone).date() < fields["date_of_birth"]:
            raise RuleError(f"{child_ref} has an episode recorded from {local(first, ctx.zone)}, before that date of "
                            "birth. Check the date, or withdraw the episode if it was recorded in error.",
                            f"/missing status {child_ref}")
    for name, value in fields.items():
        setattr(child, name, value)
    child.updated_at = ctx.now
    ctx.session.flush()
    after = snapshot(child, CHILD_FIELDS)
    changed = {k: v for k, v in after.items() if before is None or before.get(k) != v}
    if created or changed:
        audit(ctx.session, actor=ctx.user_id, action="child.create" if created else "child.update",
              entity="child", entity_id=child.id, now=ctx.now, before=before, after=after)
        alerts.on_child_changed(ctx, child)
    return ChildResult(child, created, changed)


def report_missing(ctx: Ctx, child: Child, *, started_at: datetime, missing_from: str = "", risk_grade: str | None = None,
                   police_ref: str = "", episode_type: str = "missing", example: str = "",
                   returned_at: datetime | None = None) -> Episode:
    """A new episode. With `returned_at`, a whole episode reported after it ended (police
    notifications arrive late): it may start before the child's latest episode if it overlaps none."""
    lock_child(ctx.session, child)
    check_times(ctx, child, started_at, returned_at, example)
    episode = Episode(child_id=child.id, episode_type=episode_type, started_at=started_at, missing_from=missing_from,
                      placement_type=child.placement_type, looked_after=child.looked_after, police_ref=police_ref, risk_grade=risk_grade,
                      reported_by=ctx.user_id, created_at=ctx.now, updated_at=ctx.now, source="slack",
                      returned_at=returned_at, returned_by=ctx.user_id if returned_at is not None else "")
    ctx.session.add(episode)
    ctx.session.flush()
    audit(ctx.session, actor=ctx.user_id, action="episode.report", entity="episode", entity_id=episode.id,
          now=ctx.now, after=snapshot(episode))
    kind = "away from placement" if episode_type == "away" else "missing"
    if returned_at is None:
        _post(ctx, "reported", f":rotating_light: {who(child.child_ref, child.label)} reported {kind} since "
                               f"{local(started_at, ctx.zone)}. Recorded by <@{ctx.user_id}>.", child, episode)
    else:
        _post(ctx, "reported", f":rotating_light: {who(child.child_ref, child.label)}: an earlier episode reported late: "
                               f"{kind} {local(started_at, ctx.zone)} to {local(returned_at, ctx.zone)}. "
                               f"Recorded by <@{ctx.user_id}>.", child, episode)
    alerts.on_episode_opened(ctx, child, episode)
    return episode


def record_found(ctx: Ctx, child: Child, *, returned_at: datetime, location: str = "", example: str = "") -> Episode:
    lock_child(ctx.session, child)
    episode = open_episode(ctx.session, child.id)
    if episode is None:
        latest = latest_episode(ctx.session, child.id)
        if latest is not None and latest.returned_at is not None:
            # Most often the same return sent twice, or two colleagues at once: say what is recorded.
            by = f", recorded by <@{latest.returned_by}>" if latest.returned_by else ""
            raise RuleError(f"{child.child_ref} is not recorded missing: already returned {local(latest.returned_at, ctx.zone)}"
                            f"{by}. Nothing was changed; to change the return time use `/missing amend`.",
                            f"/missing amend {child.child_ref} latest returned 14:30")
        raise RuleError(f"{child.child_ref} has no open episode to end.", f"/missing report {child.child_ref}")
    rules.check_return(episode.started_at, returned_at, ctx.now, ctx.protocol, example)
    before = snapshot(episode)
    episode.returned_at = returned_at
    episode.returned_by = ctx.user_id
    if location:
        episode.found_location = location
    episode.updated_at = ctx.now
    ctx.session.flush()
    audit(ctx.session, actor=ctx.user_id, action="episode.found", entity="episode", entity_id=episode.id,
          now=ctx.now, before=before, after=snapshot(episode))
    deadline = rules.ri_deadline(returned_at, ctx.protocol)
    _post(ctx, "found", f":white_check_mark: {who(child.child_ref, child.label)} has returned "
                        f"({local(returned_at, ctx.zone)}). Return interview due by {local(deadline, ctx.zone)}.",
          child, episode)
    alerts.on_episode_closed(ctx, child, episode)
    return episode


def record_interview(ctx: Ctx, child: Child, *, outcome: str, at: datetime, by: str = "", example: str = "",
                     episode: Episode | None = None) -> list[Episode]:
    """Record a return interview outcome; returns the episodes it was recorded for, latest first.

    With `episode` (the alert's form), for that episode only. Otherwise for the child's latest
    ended episode (the child may be missing again before the outcome is typed) and for any
    earlier return still owed an interview whose reminders are still running: a child who went
    missing again before being interviewed has one interview for both returns, and the
    reminders for the earlier one stop too."""
    lock_child(ctx.session, child)
    if episode is None:
        episode = latest_ended_episode(ctx.session, child.id)
        if episode is None:
            raise RuleError(f"{child.child_ref} has no ended episode; a return interview follows a return.",
                            f"/missing found {child.child_ref} at 14:30")
        chased_since = ctx.now - timedelta(hours=ctx.protocol.interview_hours, days=ctx.protocol.overdue_reminder_days)
        owed = list(ctx.session.scalars(select(Episode).where(
            Episode.child_id == child.id, Episode.id != episode.id, Episode.ri_outcome.is_(None),
            Episode.returned_at.is_not(None), Episode.returned_at > chased_since, Episode.returned_at <= at,
        ).order_by(Episode.started_at.desc())))
    elif episode.returned_at is None:
        raise RuleError(f"{child.child_ref} has not returned from this episode yet.", f"/missing found {child.child_ref}")
    else:
        owed = []
    rules.check_not_future(at, ctx.now, ctx.protocol, "interview", example)
    if outcome == "completed" and at < episode.returned_at:
        raise RuleError("An interview cannot be completed before the return.", example)
    for e in (episode, *owed):
        before = snapshot(e)
        e.ri_outcome, e.ri_at, e.ri_by, e.updated_at = outcome, at, by or f"<@{ctx.user_id}>", ctx.now
        ctx.session.flush()
        audit(ctx.session, actor=ctx.user_id, action="episode.interview", entity="episode", entity_id=e.id,
              now=ctx.now, before=before, after=snapshot(e))
        alerts.on_interview_recorded(ctx, child, e)
    covers = f" (covering {len(owed) + 1} returns)" if owed else ""
    _post(ctx, "interview", f":memo: {who(child.child_ref, child.label)}: return interview {outcome}{covers}.", child, episode)
    return [episode, *owed]


def regrade(ctx: Ctx, child: Child, grade: str) -> Episode:
    lock_child(ctx.session, child)
    episode = open_episode(ctx.session, child.id)
    if episode is None:
        raise RuleError(f"{child.child_ref} has no open episode to re-grade.", f"/missing report {child.child_ref} risk {grade}")
    old = episode.risk_grade
    if old == grade:
        return episode
    before = snapshot(episode)
    episode.risk_grade = grade
    episode.updated_at = ctx.now
    ctx.session.flush()
    audit(ctx.session, actor=ctx.user_id, action="episode.regrade", entity="episode", entity_id=episode.id,
          now=ctx.now, before=before, after=snapshot(episode))
    _post(ctx, "regrade", f":large_orange_diamond: {who(child.child_ref, child.label)}: risk re-graded "
                          f"{(old or 'not graded').replace('_', ' ')} → {grade.replace('_', ' ')}.", child, episode)
    alerts.on_risk_changed(ctx, child, episode, old)
    return episode


def age_on(dob: date | None, on: date) -> int | None:
    if dob is None:
        return None
    return on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))
