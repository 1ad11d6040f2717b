"""Corrections to the record: withdraw an episode recorded in error, amend an episode's times.

Never silent: each correction says what it replaced, writes an audit row with the old and new
values and one channel line, inside the caller's transaction. Who may correct: the person who
recorded the episode (or its return) within `CORRECTION_HOURS`, managers and admins at any time."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import delete, select, update

from bot.context import Ctx
from bot.protocol import clock as clock_rules
from bot.protocol.rules import RuleError
from bot.protocol.when import WhenError, parse_when
from bot.messages import Person
from bot.render import local, who
from store import alerts
from store.audit import audit, snapshot
from store.models import AuditRecord, Child, Episode, Outbox
from store.records import _post, check_times, latest_episode, lock_child

CORRECTION_HOURS = 24
# Alerts whose due time follows from an episode's times: moved when the times are amended.
TIMED_RULES = (clock_rules.RI_REMINDER, clock_rules.RI_OVERDUE, clock_rules.LONG_MISSING)


def may_correct(ctx: Ctx, episode: Episode) -> bool:
    if ctx.settings.is_manager(ctx.user_id):
        return True
    since = ctx.now - timedelta(hours=CORRECTION_HOURS)
    return ctx.session.scalar(select(AuditRecord.id).where(
        AuditRecord.entity == "episode", AuditRecord.entity_id == episode.id, AuditRecord.actor == ctx.user_id,
        AuditRecord.action.in_(("episode.report", "episode.found")), AuditRecord.at >= since).limit(1)) is not None


def _require_may_correct(ctx: Ctx, episode: Episode, what: str) -> None:
    if not may_correct(ctx, episode):
        raise RuleError(f"Only the person who recorded this episode (within {CORRECTION_HOURS} hours of recording it), "
                        f"a manager (MANAGER_USERS) or an admin can {what} it. Ask your team manager.")


def find_episode(ctx: Ctx, child: Child, selector: str, example: str) -> Episode:
    """`latest`, or the episode's start as `/missing status` shows it (any accepted time form):
    the live episode of the child that started within that minute."""
    lock_child(ctx.session, child)
    selector = " ".join(selector.split())
    if not selector:
        raise RuleError("Say which episode: its start as `/missing status` shows it, or `latest`.", example)
    if selector.lower() == "latest":
        episode = latest_episode(ctx.session, child.id)
        if episode is None:
            raise RuleError(f"{child.child_ref} has no episode recorded.", f"/missing status {child.child_ref}")
        return episode
    at, day = _as_shown(selector, ctx.zone)
    if day is not None:
        # A date alone names the one episode that started that day (in the council's zone).
        that_day = [e for e in ctx.session.scalars(select(Episode).where(Episode.child_id == child.id)
                                                   .order_by(Episode.started_at))
                    if e.started_at.astimezone(ctx.zone).date() == day]
        if len(that_day) == 1:
            return that_day[0]
        if that_day:
            raise RuleError(f"{child.child_ref} has {len(that_day)} episodes starting {day:%d/%m/%Y}: "
                            + "; ".join(local(e.started_at, ctx.zone) for e in that_day) + ". Give the time too.",
                            example)
        at = datetime.combine(day, datetime.min.time(), ctx.zone)
    if at is None:
        try:
            at = parse_when(selector, ctx.now, ctx.zone, grace_minutes=ctx.protocol.future_grace_minutes)
        except WhenError as exc:
            raise RuleError(f"`{selector[:40]}` is not an episode start: {exc.message}", example) from None
    minute = at.replace(second=0, microsecond=0)
    episode = ctx.session.scalar(select(Episode).where(
        Episode.child_id == child.id, Episode.started_at >= minute,
        Episode.started_at < minute + timedelta(minutes=1)))
    if episode is None:
        starts = [local(e.started_at, ctx.zone) for e in ctx.session.scalars(
            select(Episode).where(Episode.child_id == child.id).order_by(Episode.started_at.desc()).limit(5))]
        listed = "; ".join(starts) if starts else "none"
        raise RuleError(f"{child.child_ref} has no episode starting {local(at, ctx.zone)}. Latest starts: {listed}.",
                        example)
    return episode


SHOWN = ("%d %b %Y %H:%M", "%d %B %Y %H:%M")
DAYS = ("%Y-%m-%d", "%d/%m/%Y", "%d %b %Y", "%d %B %Y")


def _as_shown(selector: str, zone) -> tuple[datetime | None, date | None]:
    """A start as `/missing status` shows it (`Thu 19 Nov 2026 14:30 GMT`; the zone's abbreviation
    tells the two 01:30s of the autumn apart), or a date alone; (None, None) when it is neither."""
    words = selector.split()
    if words and words[0][:3].lower() in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
        words = words[1:]
    abbr = words.pop().upper() if words and words[-1].upper() in ("GMT", "BST", "UTC") else None
    text = " ".join(words)
    for fmt in SHOWN:
        try:
            naive = datetime.strptime(text, fmt)
        except ValueError:
            continue
        at = naive.replace(tzinfo=zone)
        if abbr and at.tzname() != abbr and naive.replace(tzinfo=zone, fold=1).tzname() == abbr:
            at = naive.replace(tzinfo=zone, fold=1)
        return at.astimezone(timezone.utc), None  # in UTC: arithmetic on a local time forgets the fold
    if abbr is None:
        for fmt in DAYS:
            try:
                return None, datetime.strptime(text, fmt).date()
            except ValueError:
                continue
    return None, None


def _cancel_pending(ctx: Ctx, episode: Episode, kinds: tuple[str, ...] | None, why: str) -> int:
    q = update(Outbox).where(Outbox.episode_id == episode.id, Outbox.status == "pending",
                             Outbox.kind.like("alert.%"))
    if kinds is not None:
        q = q.where(Outbox.kind.in_([f"alert.{k}" for k in kinds]))
    return ctx.session.execute(q.values(status="cancelled", error=why)
                               .execution_options(synchronize_session=False)).rowcount


def withdraw(ctx: Ctx, child: Child, episode: Episode, reason: str, example: str) -> Episode:
    """Recorded in error: kept for the audit, out of every count, status, agenda, figure and return;
    its pending alerts and reminders are cancelled."""
    _require_may_correct(ctx, episode, "withdraw")
    if not reason.strip():
        raise RuleError("Give the reason the episode is withdrawn.", example)
    before = snapshot(episode)
    episode.withdrawn_at, episode.withdrawn_by, episode.withdrawn_reason = ctx.now, ctx.user_id, reason
    episode.updated_at = ctx.now
    ctx.session.flush()
    audit(ctx.session, actor=ctx.user_id, action="episode.withdraw", entity="episode", entity_id=episode.id,
          now=ctx.now, before=before, after=snapshot(episode))
    _cancel_pending(ctx, episode, None, "episode withdrawn")
    _post(ctx, "withdrawn", f":wastebasket: {who(child.child_ref, child.label)}: the episode from "
                            f"{local(episode.started_at, ctx.zone)} was withdrawn (recorded in error) by " + Person(ctx.user_id) + ". "
                            "It no longer counts anywhere.", child, episode)
    return episode


def amend(ctx: Ctx, child: Child, episode: Episode, field: str, when: datetime, example: str) -> tuple[datetime | None, Episode]:
    """Correct an episode's start or return time. The overlap rules apply as to a new episode;
    alerts that follow from the times and were never posted are moved (cancelled and due again at
    the new time); alerts already posted are not repeated. Returns the old value."""
    _require_may_correct(ctx, episode, "amend")
    start, end = episode.started_at, episode.returned_at
    if field == "start":
        start = when
    elif episode.returned_at is None:
        raise RuleError(f"{child.child_ref} has not returned from this episode: record the return instead.",
                        f"/missing found {child.child_ref} at 14:30")
    else:
        end = when
    check_times(ctx, child, start, end, example, exclude_id=episode.id)
    old = episode.started_at if field == "start" else episode.returned_at
    if old == when:
        return old, episode
    before = snapshot(episode)
    episode.started_at, episode.returned_at, episode.updated_at = start, end, ctx.now
    ctx.session.flush()
    audit(ctx.session, actor=ctx.user_id, action=f"episode.amend.{field}", entity="episode", entity_id=episode.id,
          now=ctx.now, before=before, after=snapshot(episode))
    _move_alerts(ctx, episode)
    what = "start" if field == "start" else "return"
    _post(ctx, f"amended-{field}", f":pencil2: {who(child.child_ref, child.label)}: {what} time corrected from "
                                   f"{local(old, ctx.zone)} to {local(when, ctx.zone)} by " + Person(ctx.user_id) + ".", child, episode)
    alerts.evaluate_child(ctx.session, child.id, alerts.env_of(ctx))
    return old, episode


def _move_alerts(ctx: Ctx, episode: Episode) -> None:
    """Alerts of the episode timed from its start or return and not yet posted are forgotten, so
    the clock fires them again at the corrected time; any already posted keeps its key, so it is
    never repeated."""
    rows = ctx.session.execute(select(alerts.Alert.id, alerts.Alert.key).where(
        alerts.Alert.episode_id == episode.id, alerts.Alert.rule.in_(TIMED_RULES))).all()
    for alert_id, key in rows:
        sent = ctx.session.scalar(select(Outbox.id).where(
            Outbox.key.in_([f"alert:{key}", f"alert-dm:{key}"]), Outbox.status.in_(("sent", "sending"))).limit(1))
        if sent is not None:
            continue
        # Never posted: forget it (its outbox rows hold its key), and the clock fires it anew.
        ctx.session.execute(delete(Outbox).where(Outbox.key.in_([f"alert:{key}", f"alert-dm:{key}"]),
                                                 Outbox.status.in_(("pending", "failed", "cancelled")))
                            .execution_options(synchronize_session=False))
        ctx.session.execute(delete(alerts.Alert).where(alerts.Alert.id == alert_id)
                            .execution_options(synchronize_session=False))

