"""The changes a user can make, each inside the caller's transaction (`ctx.session`).

Each change checks the protocol's rules, writes the record, an audit row, the channel line
(outbox) and whatever the clock hooks enqueue — all in that one transaction, so either all of
it happens or none of it does. Slack, the console and later Teams all call these functions."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

from sqlalchemy import and_, bindparam, case, func, or_, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value

from bot.context import Ctx
from bot.protocol import rules
from bot.protocol.rules import RuleError, Span
from bot.messages import CHANNEL, THREAD, Message, Person, Rich
from bot.render import local, who
from store import alerts, councils
from store.audit import audit, snapshot
from store.db import live_only
from store.models import Child, Episode, HeldMeeting
from store.outbox import enqueue

@dataclass
class Practice:
    """What practice records about an episode, as given (None: not said, left as it is)."""

    reasons: str | None = None
    factors: list[str] | None = None
    cse: bool | None = None
    cce: bool | None = None

    def apply(self, episode: "Episode") -> None:
        if self.reasons is not None:
            episode.reasons = self.reasons
        if self.factors is not None:
            episode.factors = list(self.factors)
        if self.cse is not None:
            episode.cse_concern = self.cse
        if self.cce is not None:
            episode.cce_concern = self.cce


@dataclass
class Interview:
    """The return interview's details besides outcome and time (None/empty: not said)."""

    by: str = ""
    independent: bool | None = None
    offered_at: datetime | None = None
    account: str = ""
    followup: str = ""


CHILD_FIELDS = ("label", "date_of_birth", "gender", "looked_after", "placement_type", "out_of_area", "worker_user_id",
                "placed_by", "placed_in")


class NotFound(RuleError):
    pass


# -- reads ---------------------------------------------------------------------------------

# The statements on every change's path, built once (CHILD_STATUS below says why).
CHILD_BY_REF = live_only(select(Child).where(Child.child_ref == bindparam("ref")))
CHILD_BY_REF_LOCKED = live_only(select(Child).where(Child.child_ref == bindparam("ref")).with_for_update())
LOCK_CHILD = live_only(select(Child.id).where(Child.id == bindparam("id")).with_for_update())
OPEN_EPISODE = live_only(select(Episode).where(Episode.child_id == bindparam("child_id"), Episode.returned_at.is_(None)))


def get_child(session: Session, child_ref: str, *, lock: bool = False) -> Child | None:
    """`lock`: the child's row lock too, in the same statement (what `lock_child` takes), for a
    change about to be made: pass `locked=True` to the change then."""
    return session.scalar(CHILD_BY_REF_LOCKED if lock else CHILD_BY_REF, {"ref": child_ref})


def require_child(session: Session, child_ref: str, *, lock: bool = False) -> Child:
    child = get_child(session, child_ref, lock=lock)
    if child is None:
        raise NotFound(f"No child with case reference {child_ref} is recorded.", f"/missing child {child_ref} label AB")
    return child


def open_episode(session: Session, child_id: int) -> Episode | None:
    return session.scalar(OPEN_EPISODE, {"child_id": child_id})


def latest_episode(session: Session, child_id: int) -> Episode | None:
    return session.scalar(select(Episode).where(Episode.child_id == child_id)
                          .order_by(Episode.started_at.desc()).limit(1))


def latest_ended_episode(session: Session, child_id: int) -> Episode | None:
    return session.scalar(select(Episode).where(Episode.child_id == child_id, Episode.returned_at.is_not(None))
                          .order_by(Episode.started_at.desc()).limit(1))


def recent_episodes(session: Session, child_id: int, since: datetime) -> list[Episode]:
    return list(session.scalars(select(Episode).where(Episode.child_id == child_id, Episode.started_at > since)
                                .order_by(Episode.started_at.desc())))


@dataclass
class ChildStatus:
    child: Child
    recent: list[Episode]  # started after `since`, latest first
    latest: Episode | None  # the latest episode, recent or not (an open episode is always the latest)
    any_held: bool = True  # whether any meeting is recorded as held about the child (if not, none to look up)

    @property
    def open(self) -> Episode | None:
        return self.latest if self.latest is not None and self.latest.returned_at is None else None


def _child_status_query():
    earlier = aliased(Episode)
    latest_start = (select(func.max(earlier.started_at)).where(earlier.child_id == Child.id)
                    .correlate(Child).scalar_subquery())
    since = bindparam("since")
    any_held = select(HeldMeeting.id).where(HeldMeeting.child_id == Child.id).correlate(Child).exists()
    return (select(Child, Episode, any_held).outerjoin(Episode, and_(Episode.child_id == Child.id,
                                                           or_(Episode.started_at > since,
                                                               Episode.started_at >= latest_start)))
            .where(Child.child_ref == bindparam("ref")).order_by(Episode.started_at.desc()))


# Built once: building it (the alias, the correlated subquery) cost more than running it. The
# sessions' live-episodes criteria (store/db.py) still apply to it, the alias included.
CHILD_STATUS = live_only(_child_status_query())


def child_status(session: Session, child_ref: str, since: datetime) -> ChildStatus | None:
    """What `/missing status` shows, in one query: the child, its episodes started after `since`
    and its latest episode. Episodes of a child never overlap, so an open one is the latest."""
    rows = session.execute(CHILD_STATUS, {"ref": child_ref, "since": since}).all()
    if not rows:
        return None
    episodes = [e for _, e, _ in rows if e is not None]
    return ChildStatus(rows[0][0], [e for e in episodes if e.started_at > since], episodes[0] if episodes else None,
                       bool(rows[0][2]))


# `/missing open` and `due` read only the columns they show, as rows, the first SHOWN of them
# (with the totals beside each row: a window over all of them), through Core on the session's
# connection (no ORM objects, no ORM statement machinery): statements built once, on the tables.
# Withdrawn episodes are left out here explicitly (the sessions' criteria are for ORM statements).
# Each reads only what its answer shows: every time read is parsed (SQLite keeps text), so `due`
# (twice `open`'s rows in a usual week) reads the return, not the start it never shows.
SHOWN = 50
_children, _episodes = Child.__table__.c, Episode.__table__.c
_JOINED = Child.__table__.join(Episode.__table__, _episodes.child_id == _children.id)
_TOTAL = func.count().over().label("total")
ALL_OPEN = (select(_children.child_ref, _children.label, _episodes.episode_type, _episodes.started_at,
                   _episodes.risk_grade, _TOTAL,
                   func.sum(case((_episodes.episode_type == "away", 1), else_=0)).over().label("away"))
            .select_from(_JOINED).where(_episodes.returned_at.is_(None), _episodes.withdrawn_at.is_(None))
            .order_by(_episodes.started_at, _episodes.id).limit(SHOWN))
INTERVIEWS_DUE = (select(_children.child_ref, _children.label, _children.placed_by, _episodes.episode_type,
                         _episodes.returned_at, _TOTAL).select_from(_JOINED)
                  .where(_episodes.returned_at.is_not(None), _episodes.ri_outcome.is_(None),
                         _episodes.withdrawn_at.is_(None), _episodes.returned_at <= bindparam("latest_return"))
                  .order_by(_episodes.returned_at, _episodes.id).limit(SHOWN))


def all_open(session: Session) -> list:
    """Rows (child_ref, label, episode_type, started_at, risk_grade, total, away) of the episodes
    open now, longest first: the first SHOWN; `total` and `away` count them all."""
    return session.connection().execute(ALL_OPEN).all()


def interviews_due(session: Session, protocol, now: datetime, horizon_hours: int = 72) -> list:
    """Ended episodes without an outcome whose deadline is within the horizon, or passed; soonest
    first: rows (child_ref, label, placed_by, episode_type, returned_at, total), the first SHOWN;
    `total` counts them all."""
    latest_return = now + timedelta(hours=horizon_hours) - timedelta(hours=protocol.interview_hours)
    return session.connection().execute(INTERVIEWS_DUE, {"latest_return": latest_return}).all()


def lock_child(session: Session, child: Child, *, locked: bool = False) -> None:
    """Hold the child's row lock until the transaction ends, and forget what this session has read
    of the child's episodes, so every check after it sees what colleagues (and other processes)
    have committed. Every change to a child's episodes calls this first. PostgreSQL: SELECT ... FOR
    UPDATE; SQLite serialises writers already (BEGIN IMMEDIATE, store/db.py). `locked`: the child
    was read with its lock in this transaction (`get_child(..., lock=True)`), one statement fewer."""
    if not locked:
        session.execute(LOCK_CHILD, {"id": child.id})
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Episode) and obj.child_id == child.id:
            session.expire(obj)


def _overlapping(with_end: bool, with_exclude: bool):
    q = select(Episode.started_at, Episode.returned_at, Episode.episode_type).where(
        Episode.child_id == bindparam("child_id"), or_(Episode.returned_at.is_(None), Episode.returned_at >= bindparam("start")))
    if with_end:
        q = q.where(Episode.started_at <= bindparam("end"))
    if with_exclude:
        q = q.where(Episode.id != bindparam("exclude_id"))
    return live_only(q)


OVERLAPPING = {(end, exclude): _overlapping(end, exclude) for end in (False, True) for exclude in (False, True)}


def overlapping(session: Session, child_id: int, start: datetime, end: datetime | None,
                exclude_id: int | None = None) -> list[Span]:
    """Live episodes of the child that [start, end) could overlap or share its start with."""
    q = OVERLAPPING[(end is not None, exclude_id is not None)]
    params = {"child_id": child_id, "start": start, "end": end, "exclude_id": exclude_id}
    return [Span(*row) for row in session.execute(q, {k: v for k, v in params.items() if v is not None or k == "start"})]


def _overlapping_of(eps: list, start: datetime, end: datetime | None) -> list[Span]:
    """`overlapping`'s answer from the child's live episodes read already (`alerts.child_episodes`)."""
    return [Span(e.started_at, e.returned_at, e.episode_type) for e in eps
            if (e.returned_at is None or e.returned_at >= start) and (end is None or e.started_at <= end)]


def check_times(ctx: Ctx, child: Child, started_at: datetime, returned_at: datetime | None, example: str,
                exclude_id: int | None = None) -> None:
    others = overlapping(ctx.session, child.id, started_at, returned_at, exclude_id)
    rules.check_span(started_at, returned_at, others, ctx.now, ctx.protocol, example, child.child_ref,
                     dob=child.date_of_birth, zone=ctx.zone)


# -- changes -------------------------------------------------------------------------------

def _post(ctx: Ctx, kind: str, text: Rich | str, child: Child, episode: Episode | None = None) -> None:
    ident = episode.id if episode is not None else f"child{child.id}"
    enqueue(ctx.session, key=f"change:{kind}:{ident}:{ctx.now.isoformat()}", kind=f"change.{kind}",
            channel=ctx.settings.alert_channel, message=Message(text, visibility=THREAD if episode else CHANNEL),
            now=ctx.now, child_id=child.id,
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
    councils.derive(child, fields)  # out_of_area from placed_by / placed_in
    child.updated_at = ctx.now
    ctx.session.flush()
    after = snapshot(child, CHILD_FIELDS)
    changed = {k: v for k, v in after.items() if before is None or before.get(k) != v}
    if created or changed:
        audit(ctx.session, actor=ctx.user_id, action="child.create" if created else "child.update",
              entity="child", entity_id=child.id, now=ctx.now, before=before, after=after)
        alerts.on_child_changed(ctx, child)
    return ChildResult(child, created, changed)


def report_missing(ctx: Ctx, child: Child, **kwargs) -> Episode:
    """A new episode (`report`'s arguments)."""
    return report(ctx, child, **kwargs).episode


@dataclass
class Reported:
    episode: Episode
    episodes: list  # the child's live episodes now, this one included (as rules.Ep, times in UTC)

    def count_since(self, since: datetime) -> int:
        """How many of the child's live episodes started after `since` (the answer's count), without
        asking the database again."""
        return sum(1 for e in self.episodes if e.started_at > since)


def report(ctx: Ctx, child: Child, *, started_at: datetime, missing_from: str = "", risk_grade: str | None = None,
           police_ref: str = "", episode_type: str = "missing", example: str = "",
           returned_at: datetime | None = None, practice: Practice | None = None, locked: bool = False) -> Reported:
    """A new episode. With `returned_at`, a whole episode reported after it ended (police
    notifications arrive late): it may start before the child's latest episode if it overlaps none.
    `locked`: the child was read with its lock in this transaction (`lock_child`)."""
    lock_child(ctx.session, child, locked=locked)
    # The child's live episodes, read once under its lock: the overlap check here, the clock's
    # checks after the insert (the database still refuses an overlap: migration 0005's triggers,
    # PostgreSQL's exclusion constraint).
    eps = alerts.child_episodes(ctx.session, child.id)
    rules.check_span(started_at, returned_at, _overlapping_of(eps, started_at, returned_at), ctx.now, ctx.protocol,
                     example, child.child_ref, dob=child.date_of_birth, zone=ctx.zone)
    episode = Episode(child_id=child.id, episode_type=episode_type, started_at=started_at, missing_from=missing_from,
                      placement_type=child.placement_type, looked_after=child.looked_after, police_ref=police_ref, risk_grade=risk_grade,
                      reported_by=ctx.user_id, created_at=ctx.now, updated_at=ctx.now, source="slack",
                      returned_at=returned_at, returned_by=ctx.user_id if returned_at is not None else "")
    if practice is not None:
        practice.apply(episode)
    ctx.session.add(episode)
    ctx.session.flush()
    audit(ctx.session, actor=ctx.user_id, action="episode.report", entity="episode", entity_id=episode.id,
          now=ctx.now, after=snapshot(episode))
    kind = "away from placement" if episode_type == "away" else "missing"
    if returned_at is None:
        _post(ctx, "reported", f":rotating_light: {who(child.child_ref, child.label)} reported {kind} since "
                               f"{local(started_at, ctx.zone)}. Recorded by " + Person(ctx.user_id) + ".", child, episode)
    else:
        _post(ctx, "reported", f":rotating_light: {who(child.child_ref, child.label)}: an earlier episode reported late: "
                               f"{kind} {local(started_at, ctx.zone)} to {local(returned_at, ctx.zone)}. "
                               "Recorded by " + Person(ctx.user_id) + ".", child, episode)
    utc = timezone.utc  # as the database gives the times back
    eps.append(replace(alerts.ep_of(episode), started_at=started_at.astimezone(utc),
                       returned_at=returned_at.astimezone(utc) if returned_at is not None else None))
    alerts.on_episode_opened(ctx, child, episode, eps)
    return Reported(episode, eps)


# The return's UPDATE: Core, built once; the ORM's unit of work for one row's few columns cost more
# than the statement (and the live-episodes hook rebuilt it on every call).
UPDATE_EPISODE = (update(Episode.__table__)
                  .where(_episodes.id == bindparam("episode_id"), _episodes.withdrawn_at.is_(None)))


def update_episode(session: Session, episode: Episode, values: dict) -> None:
    """Write `values` to the episode's row now, in one statement, and hold them in the object as
    loaded (as after an ORM flush: the values as given; the derived columns the database keeps
    are not read back either way)."""
    session.flush()  # anything pending goes first, in the order the ORM would have written it
    if session.connection().execute(UPDATE_EPISODE, {"episode_id": episode.id, **values}).rowcount != 1:
        raise RuntimeError("the episode to update is gone")  # it was read under the child's lock
    for key, value in values.items():
        set_committed_value(episode, key, value)


def record_found(ctx: Ctx, child: Child, *, returned_at: datetime, location: str = "", example: str = "",
                 practice: Practice | None = None, locked: bool = False) -> Episode:
    lock_child(ctx.session, child, locked=locked)
    episode = open_episode(ctx.session, child.id)
    if episode is None:
        latest = latest_episode(ctx.session, child.id)
        if latest is not None and latest.returned_at is not None:
            # Most often the same return sent twice, or two colleagues at once: say what is recorded.
            by = ", recorded by " + Person(latest.returned_by) if latest.returned_by else ""
            raise RuleError(f"{child.child_ref} is not recorded missing: already returned {local(latest.returned_at, ctx.zone)}"
                            + by + ". Nothing was changed; to change the return time use `/missing amend`.",
                            f"/missing amend {child.child_ref} latest returned 14:30")
        raise RuleError(f"{child.child_ref} has no open episode to end.", f"/missing report {child.child_ref}")
    rules.check_return(episode.started_at, returned_at, ctx.now, ctx.protocol, example)
    before = snapshot(episode)
    changes = SimpleNamespace(returned_at=returned_at, returned_by=ctx.user_id)
    if location:
        changes.found_location = location
    if practice is not None:
        practice.apply(changes)
    changes.updated_at = ctx.now
    update_episode(ctx.session, episode, vars(changes))
    audit(ctx.session, actor=ctx.user_id, action="episode.found", entity="episode", entity_id=episode.id,
          now=ctx.now, before=before, after=snapshot(episode))
    deadline = rules.ri_deadline(returned_at, ctx.protocol)
    _post(ctx, "found", f":white_check_mark: {who(child.child_ref, child.label)} has returned "
                        f"({local(returned_at, ctx.zone)}). Return interview due by {local(deadline, ctx.zone)}.",
          child, episode)
    alerts.on_episode_closed(ctx, child, episode)
    return episode


def record_interview(ctx: Ctx, child: Child, *, outcome: str, at: datetime, by: str = "", example: str = "",
                     episode: Episode | None = None, details: Interview | None = None,
                     practice: Practice | None = None, correct: bool = False) -> list[Episode]:
    """Record a return interview outcome; returns the episodes it was recorded for, latest first.

    With `episode` (the alert's form), for that episode only. Otherwise for the child's latest
    ended episode (the child may be missing again before the outcome is typed) and for any
    earlier return still owed an interview whose reminders are still running: a child who went
    missing again before being interviewed has one interview for both returns, and the
    reminders for the earlier one stop too.

    An outcome already recorded is changed only with `correct` (the audit keeps what it
    replaced, and a sign-off is cleared: the corrected record needs signing off again).
    `details` (who held it, independence, when offered, the child's account, follow-up) go on
    every episode the interview covers; `practice` (reasons, factors, concerns) on the latest."""
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
    corrected = episode.ri_outcome is not None
    if corrected and not correct:
        raise RuleError(f"{child.child_ref}: the return interview after the return of "
                        f"{local(episode.returned_at, ctx.zone)} is already recorded as " + describe_interview(episode, ctx.zone)
                        + ". Nothing was changed. To change it, add `correct`:",
                        f"/missing interview {child.child_ref} {outcome} at {at.astimezone(ctx.zone):%Y-%m-%d %H:%M} correct")
    details = details or Interview(by=by)
    if details.by == "" and by:
        details.by = by
    if details.offered_at is not None:
        rules.check_not_future(details.offered_at, ctx.now, ctx.protocol, "offer", example)
        if details.offered_at < episode.returned_at:
            raise RuleError("The interview cannot have been offered before the return "
                            f"({local(episode.returned_at, ctx.zone)}).", example)
        if outcome == "completed" and details.offered_at > at:
            raise RuleError("The interview was offered after it was held: check the `offered` and `at` times.", example)
    for e in (episode, *owed):
        before = snapshot(e)
        e.ri_outcome, e.ri_at, e.updated_at = outcome, at, ctx.now
        e.ri_recorded_by = ctx.user_id
        if details.by or not (corrected and e is episode):
            e.ri_by = details.by  # none given: the recorder held it (ri_recorded_by says who)
        if details.independent is not None:
            e.ri_independent = details.independent
        if details.offered_at is not None:
            e.ri_offered_at = details.offered_at
        if details.account:
            e.ri_account = details.account
        if details.followup:
            e.ri_followup = details.followup
        if e is episode:
            if practice is not None:
                practice.apply(e)
            if corrected:
                e.ri_signed_off_at, e.ri_signed_off_by = None, ""
        ctx.session.flush()
        audit(ctx.session, actor=ctx.user_id, action="episode.interview_correct" if corrected and e is episode
              else "episode.interview", entity="episode", entity_id=e.id,
              now=ctx.now, before=before, after=snapshot(e))
        alerts.on_interview_recorded(ctx, child, e)
    covers = f" (covering {len(owed) + 1} returns)" if owed else ""
    verb = "outcome corrected to" if corrected else ""
    _post(ctx, "interview", f":memo: {who(child.child_ref, child.label)}: return interview {verb + ' ' if verb else ''}"
                            f"{outcome}{covers}.", child, episode)
    return [episode, *owed]


def describe_interview(e: Episode, zone) -> Rich:
    """`completed Thu 19 Nov 2026 14:30 GMT by Jo`: an interview as recorded (for private replies);
    by the person who recorded it when no one else was named."""
    if e.ri_outcome is None:
        return Rich(("not recorded",))
    by = f" by {e.ri_by}" if e.ri_by else (" by " + Person(e.ri_recorded_by) if e.ri_recorded_by else "")
    return f"{e.ri_outcome} {local(e.ri_at, zone)}" + Rich((by,))


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


# -- what practice records after the event -------------------------------------------------

def record_concern(ctx: Ctx, child: Child, kind: str, episode: Episode, note: str = "") -> bool:
    """Set a CSE or CCE concern on `episode` (with a note, kept with the others). False when it
    was already recorded and there is no note to add: nothing changes. The channel is told only
    that the record changed: a concern never goes to a channel."""
    lock_child(ctx.session, child)
    flag = "cse_concern" if kind == "cse" else "cce_concern"
    if getattr(episode, flag) and not note:
        return False
    before = snapshot(episode)
    setattr(episode, flag, True)
    if note:
        line = f"{kind.upper()} ({local(ctx.now, ctx.zone, with_day=False)}): {note}"  # who: the audit log
        episode.concern_note = f"{episode.concern_note}\n{line}" if episode.concern_note else line
    episode.updated_at = ctx.now
    ctx.session.flush()
    audit(ctx.session, actor=ctx.user_id, action="episode.concern", entity="episode", entity_id=episode.id,
          now=ctx.now, before=before, after=snapshot(episode))
    _post(ctx, "concern", f":pencil2: {who(child.child_ref, child.label)}: record updated by " + Person(ctx.user_id) + ".",
          child, episode)
    return True


def latest_interviewed(session: Session, child_id: int) -> Episode | None:
    return session.scalar(select(Episode).where(Episode.child_id == child_id, Episode.ri_outcome.is_not(None))
                          .order_by(Episode.started_at.desc()).limit(1))


def signoff_interview(ctx: Ctx, child: Child) -> Episode:
    """A manager signs off the latest return interview recorded for the child."""
    if not ctx.settings.is_manager(ctx.user_id):
        raise RuleError("Only managers (MANAGER_USERS) and administrators can sign off a return interview. "
                        "Ask your team manager.", f"/missing status {child.child_ref}")
    lock_child(ctx.session, child)
    episode = latest_interviewed(ctx.session, child.id)
    if episode is None:
        raise RuleError(f"{child.child_ref} has no return interview recorded to sign off.",
                        f"/missing interview {child.child_ref} completed at 14:30")
    if episode.ri_signed_off_at is not None:
        raise RuleError(f"{child.child_ref}: the return interview (" + describe_interview(episode, ctx.zone) + ") was already "
                        "signed off by " + Person(episode.ri_signed_off_by) + f" {local(episode.ri_signed_off_at, ctx.zone)}.",
                        f"/missing status {child.child_ref}")
    before = snapshot(episode)
    episode.ri_signed_off_at, episode.ri_signed_off_by, episode.updated_at = ctx.now, ctx.user_id, ctx.now
    ctx.session.flush()
    audit(ctx.session, actor=ctx.user_id, action="episode.signoff", entity="episode", entity_id=episode.id,
          now=ctx.now, before=before, after=snapshot(episode))
    _post(ctx, "signoff", f":ballot_box_with_check: {who(child.child_ref, child.label)}: return interview signed off "
                          "by " + Person(ctx.user_id) + ".", child, episode)
    return episode


# -- meetings held -------------------------------------------------------------------------

LINK_DAYS = 90  # an alert older than this before the meeting is not what the meeting answered


def asks_for(alert) -> set[str]:
    """The kinds of meeting an alert asks for (empty: it asks for none)."""
    from bot.protocol import clock as clock_rules

    if alert.rule in (clock_rules.HIGH_RISK, clock_rules.LONG_MISSING):
        return {"strategy", "discussion"}
    if alert.rule != clock_rules.PERSISTENCE:
        return set()
    text_ = str(alert.detail or "").lower()
    kinds = set()
    if "intervention planning" in text_ or "ipm" in text_:
        kinds.add("ipm")
    if "strategy" in text_:
        kinds |= {"strategy", "discussion"}
    return kinds or {"strategy", "ipm", "discussion"}


def asking_alert(session: Session, child_id: int, kind: str, held_at: datetime):
    """The most recent alert of the child, due by `held_at` and within LINK_DAYS, that asked for this kind of meeting."""
    from store.alerts import Alert
    from bot.protocol import clock as clock_rules

    rows = session.scalars(select(Alert).where(
        Alert.child_id == child_id, Alert.rule.in_([clock_rules.LONG_MISSING, clock_rules.PERSISTENCE, clock_rules.HIGH_RISK]),
        Alert.due_at <= held_at, Alert.due_at >= held_at - timedelta(days=LINK_DAYS)).order_by(Alert.due_at.desc(), Alert.id.desc()))
    return next((a for a in rows if kind in asks_for(a)), None)


HELD_FOR = live_only(select(HeldMeeting).where(HeldMeeting.episode_id.in_(bindparam("ids", expanding=True)))
                     .order_by(HeldMeeting.held_at))  # built once (store/records.py CHILD_STATUS says why)


def held_for_episodes(session: Session, episode_ids: list[int]) -> dict[int, list[HeldMeeting]]:
    out: dict[int, list[HeldMeeting]] = {}
    for i in range(0, len(episode_ids), 500):
        for m in session.scalars(HELD_FOR, {"ids": episode_ids[i:i + 500]}):
            out.setdefault(m.episode_id, []).append(m)
    return out


def record_held(ctx: Ctx, child: Child, *, kind: str, held_at: datetime, note: str = "", alert=None,
                example: str = "") -> HeldMeeting:
    """A strategy meeting, IPM or strategy discussion held at `held_at`, linked to `alert` (the
    alert's button) or else to the most recent alert of the child that asked for one."""
    from bot.protocol.words import HELD_MEETING_WORDS

    lock_child(ctx.session, child)
    rules.check_not_future(held_at, ctx.now, ctx.protocol, "meeting", example)
    if alert is None:
        alert = asking_alert(ctx.session, child.id, kind, held_at)
    if alert is not None and alert.episode_id:
        episode = ctx.session.get(Episode, alert.episode_id)
        # Held before the alert fell due is possible (a strategy discussion at 20 hours, recorded
        # from the 24-hour alert); before the episode began is not.
        if episode is not None and held_at < episode.started_at:
            raise RuleError(f"The meeting is given as held {local(held_at, ctx.zone)}, before the episode it is about "
                            f"began ({local(episode.started_at, ctx.zone)}). Give the time it was held.", example)
    else:
        episode = ctx.session.scalar(select(Episode).where(Episode.child_id == child.id, Episode.started_at <= held_at)
                                     .order_by(Episode.started_at.desc()).limit(1))
    meeting = HeldMeeting(child_id=child.id, episode_id=episode.id if episode is not None else None,
                          alert_id=alert.id if alert is not None else None, kind=kind, held_at=held_at, note=note,
                          recorded_by=ctx.user_id, created_at=ctx.now)
    ctx.session.add(meeting)
    ctx.session.flush()
    audit(ctx.session, actor=ctx.user_id, action="meeting.held", entity="held_meeting", entity_id=meeting.id,
          now=ctx.now, after=snapshot(meeting))
    enqueue(ctx.session, key=f"change:held:{meeting.id}", kind="change.held", channel=ctx.settings.alert_channel,
            message=Message(f":handshake: {who(child.child_ref, child.label)}: {HELD_MEETING_WORDS[kind]} held "
                            f"{local(held_at, ctx.zone)}, recorded by " + Person(ctx.user_id) + ".", visibility=THREAD),
            now=ctx.now, child_id=child.id,
            episode_id=meeting.episode_id, thread_key=f"episode:{meeting.episode_id}" if meeting.episode_id else None)
    return meeting


def age_on(dob: date | None, on: date) -> int | None:
    if dob is None:
        return None
    return on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))
