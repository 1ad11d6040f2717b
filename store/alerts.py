"""The clock's tables, its queries, and the hooks the record calls inside each change's transaction.

`alerts` holds one row per alert ever fired, under the rule's unique key (rule, subject,
occurrence): inserting it with ON CONFLICT DO NOTHING is what makes an alert fire at most once,
however many sweeps or processes find it due. The same transaction writes its outbox rows (team
channel, and a direct message to the allocated worker), so an alert is stored before it is sent.
`sweep_runs` is the heartbeat `/missing health` shows."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import ForeignKey, Index, Integer, String, bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Mapped, Session, make_transient_to_detached, mapped_column

from bot.messages import CHANNEL, PRIVATE, Message
from bot.protocol import clock as rules
from bot.protocol import councils as council_rules
from bot.protocol.config import Protocol
from store import councils, teams
from store.db import add_new
from store.models import USER, Base, Child, Episode, HeldMeeting, Outbox
from store.outbox import UNCHECKED, enqueue

if TYPE_CHECKING:  # pragma: no cover
    from bot.context import Ctx


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alert_rule_child", "rule", "child_id", "variant"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    rule: Mapped[str] = mapped_column(String(20))
    variant: Mapped[str] = mapped_column(String(32), default="")  # e.g. "3in30d", "24h"
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id"))
    episode_id: Mapped[int | None] = mapped_column(ForeignKey("episodes.id"), index=True)
    due_at: Mapped[datetime]  # the instant it fell due (the crossing, the deadline, ...)
    created_at: Mapped[datetime]
    detail: Mapped[dict | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(USER))


class SweepRun(Base):
    """The last sweep of each host."""

    __tablename__ = "sweep_runs"

    worker: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    enqueued: Mapped[int] = mapped_column(Integer, default=0)
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(200))


@dataclass
class Env:
    """What firing an alert needs besides the session."""

    now: datetime
    protocol: Protocol
    zone: ZoneInfo
    channel: str


def env_of(ctx: "Ctx") -> Env:
    return Env(ctx.now, ctx.protocol, ctx.zone, ctx.settings.alert_channel)


def ep_of(e: Episode) -> rules.Ep:
    return rules.Ep(id=e.id, child_id=e.child_id, started_at=e.started_at, returned_at=e.returned_at,
                    episode_type=e.episode_type, risk_grade=e.risk_grade, ri_outcome=e.ri_outcome)


def _insert_alert(session: Session, due: rules.Due, now: datetime) -> Alert | None:
    """The new alert, or None when its key has fired before. The row is known in full once the
    INSERT returns its id, so the Alert joins the session as loaded (no SELECT to read it back):
    the values as the database gives them back (UTC times, the detail as stored JSON)."""
    variant = str(due.detail.get("rule") or (f"{due.detail['hours']}h" if "hours" in due.detail else ""))
    values = dict(key=due.key[:200], rule=due.rule, variant=variant, child_id=due.child_id, episode_id=due.episode_id,
                  due_at=due.at, created_at=now, detail=due.detail)
    alert_id = add_new(session, Alert, values)
    if alert_id is None:
        return None
    alert = Alert(id=alert_id, **values, acknowledged_at=None, acknowledged_by=None)
    alert.due_at, alert.created_at = due.at.astimezone(timezone.utc), now.astimezone(timezone.utc)
    alert.detail = None if due.detail is None else json.loads(json.dumps(due.detail))
    make_transient_to_detached(alert)
    session.add(alert)
    return alert


def fire(session: Session, due: rules.Due, env: Env) -> bool:
    """Store the alert and its messages, unless this key has fired before. True when new."""
    alert = _insert_alert(session, due, env.now)
    if alert is None:
        return False
    _announce(session, [alert], env)
    return True


def _announce(session: Session, group: list[Alert], env: Env) -> None:
    """Enqueue ONE message (team channel, and the allocated worker) for alerts stored together
    about the same thing: the persistence rules one episode crossed at once (3 in 30 days and 3 in
    90 days). The first alert carries the message (its key, its buttons) and, in its detail,
    every rule crossed with what each asks for; the others keep their own row, so each rule still
    fires once per crossing, and point at it (`announced_with`)."""
    alert = group[0]
    if len(group) > 1:
        alert.detail = {**(alert.detail or {}), "actions": [
            {"key": a.key, **{k: (a.detail or {}).get(k) for k in ("rule", "episodes", "days", "count", "away", "action")}}
            for a in group]}
        for other in group[1:]:
            other.detail = {**(other.detail or {}), "announced_with": alert.key}
        session.flush()
    child = session.get(Child, alert.child_id)
    thread = f"episode:{alert.episode_id}" if alert.episode_id else None
    # The rows name the alert; the message is rendered when each is delivered (scheduler/delivery.py).
    common = dict(kind=f"alert.{alert.rule}", now=env.now, child_id=alert.child_id, episode_id=alert.episode_id,
                  alert_id=alert.id)
    # Rendered once here for the rows' preview and visibility; delivery renders it again as it is then.
    channel = alert_message(session, alert.id, env.protocol, env.zone, visibility=CHANNEL, stored_now=True)
    enqueue(session, key=f"alert:{alert.key}", channel=env.channel, thread_key=thread, message=channel, **common)
    teams.enqueue_alert(session, alert, thread, channel, common)  # Teams channels chosen with `alerts here` (issue 11)
    if child is not None and child.worker_user_id:
        enqueue(session, key=f"alert-dm:{alert.key}", channel=child.worker_user_id,
                message=replace(channel, visibility=PRIVATE), **common)


def alert_message(session: Session, alert_id: int, protocol: Protocol, zone: ZoneInfo,
                  visibility: str | None = CHANNEL, *, stored_now: bool = False) -> Message | None:
    """The alert as it is now (acknowledged, answered, meetings held), or None if it is gone.
    `stored_now`: stored in this transaction, so no meeting can have been recorded as held for it."""
    from bot.render_alerts import render_alert
    alert = session.get(Alert, alert_id)
    if alert is None:
        return None
    child = session.get(Child, alert.child_id)
    episode = session.get(Episode, alert.episode_id) if alert.episode_id else None
    return render_alert(alert, child, episode, protocol, zone, held=[] if stored_now else held_for_alert(session, alert.id),
                        visibility=visibility or CHANNEL)


def alert_messages(session: Session, alert_ids, protocol: Protocol, zone: ZoneInfo) -> dict:
    """`alert_message` for many alerts in four queries (a burst of deliveries): alert id -> a function
    of the visibility giving the message as the alert is now. Alerts that are gone are left out."""
    from bot.render_alerts import render_alert
    ids = sorted(set(alert_ids))
    if not ids:
        return {}
    alerts = list(session.scalars(select(Alert).where(Alert.id.in_(ids))))
    children = {c.id: c for c in session.scalars(select(Child).where(Child.id.in_({a.child_id for a in alerts})))}
    episode_ids = {a.episode_id for a in alerts if a.episode_id}
    episodes = {e.id: e for e in session.scalars(select(Episode).where(Episode.id.in_(episode_ids)))} if episode_ids else {}
    held: dict[int, list[HeldMeeting]] = {}
    for h in session.scalars(select(HeldMeeting).where(HeldMeeting.alert_id.in_(ids)).order_by(HeldMeeting.held_at)):
        held.setdefault(h.alert_id, []).append(h)

    def renderer(alert: Alert):
        child, episode = children.get(alert.child_id), episodes.get(alert.episode_id) if alert.episode_id else None
        return lambda visibility: render_alert(alert, child, episode, protocol, zone, held=held.get(alert.id, []),
                                               visibility=visibility or CHANNEL)
    return {a.id: renderer(a) for a in alerts}


def held_for_alert(session: Session, alert_id: int) -> list[HeldMeeting]:
    """The meetings recorded as held in answer to an alert, earliest first."""
    return list(session.scalars(select(HeldMeeting).where(HeldMeeting.alert_id == alert_id).order_by(HeldMeeting.held_at)))


def queue_refresh(session: Session, alert_id: int, now: datetime) -> int:
    """After someone acted on an alert: update every posted copy in place (outbox rows written in
    the same transaction as the change, so the update is delivered exactly as surely as the post).
    Copies not yet posted need nothing: they render as the alert is when they go."""
    queued = 0
    for row in session.scalars(select(Outbox).where(
            Outbox.alert_id == alert_id, Outbox.status.in_(["sent", "sending"]), Outbox.kind.like("alert.%"))):
        queued += enqueue(session, key=f"refresh:{row.id}:{now.isoformat()}", kind="update.alert", channel=row.address,
                          platform=row.platform, now=now, alert_id=alert_id, text=row.text,
                          message=Message(visibility=row.message.get("visibility", CHANNEL)),
                          payload={"update": row.id})
    return queued


# -- evaluation ------------------------------------------------------------------------------
# On every report's path: built once (store/records.py CHILD_STATUS says why).
LAST_FIRED = select(func.max(Alert.due_at)).where(Alert.child_id == bindparam("child_id"), Alert.rule == bindparam("rule"),
                                                   Alert.variant == bindparam("variant"))
# The report's and the sweep's reads of one child: Core statements on the tables, run on the
# session's connection (after a flush, so they see this transaction's changes as an ORM read
# would): no ORM statement machinery, no Episode objects; withdrawn episodes left out explicitly.
_a, _e = Alert.__table__.c, Episode.__table__.c
LAST_FIRED_BY_VARIANT = (select(_a.variant, func.max(_a.due_at))
                         .where(_a.child_id == bindparam("child_id"), _a.rule == bindparam("rule"))
                         .group_by(_a.variant))
# Every live episode of the child, once, for all the clock's checks of it (the live ones' interview
# and long-missing rules, the persistence rules over those started by now).
CHILD_EPISODES = select(_e.id, _e.child_id, _e.started_at, _e.returned_at, _e.episode_type, _e.risk_grade,
                        _e.ri_outcome).where(_e.child_id == bindparam("child_id"), _e.withdrawn_at.is_(None))


def _connection(session: Session):
    session.flush()
    return session.connection()


def child_episodes(session: Session, child_id: int) -> list[rules.Ep]:
    """What the clock's rules need of each live episode of the child, as the transaction sees them."""
    return [rules.Ep(*row) for row in _connection(session).execute(CHILD_EPISODES, {"child_id": child_id})]


def last_fired(session: Session, child_id: int, rule: str, variant: str) -> datetime | None:
    return session.scalar(LAST_FIRED, {"child_id": child_id, "rule": rule, "variant": variant})


def evaluate_episode(session: Session, e: Episode, env: Env) -> int:
    return _evaluate_ep(session, ep_of(e), e.child.placed_by if e.child is not None else None, env)


def _evaluate_ep(session: Session, ep: rules.Ep, placed_by: str | None, env: Env) -> int:
    fired = 0
    interview = rules.interview_due(ep, env.protocol, env.now)
    if council_rules.placing_council_interviews(placed_by, env.protocol):
        interview = council_rules.ri_confirm_due(ep, placed_by, env.protocol, env.now)
    for due in interview + rules.long_missing_due(ep, env.protocol, env.now):
        fired += fire(session, due, env)
    return fired


def evaluate_persistence(session: Session, child_id: int, env: Env, eps: list[rules.Ep] | None = None) -> int:
    """`eps`: the child's live episodes (`child_episodes`) when the caller has read them already."""
    if eps is None:
        eps = child_episodes(session, child_id)
    eps = [ep for ep in eps if ep.started_at <= env.now]
    # Each rule is its own alert row (fires once per crossing), but the rules one episode crossed
    # in this evaluation are announced in one message listing every action asked for.
    crossing: dict[tuple[int | None, datetime], list[Alert]] = {}
    # Each rule's last alert for the child (one query for every rule: its variant names the rule).
    fired = dict(_connection(session).execute(LAST_FIRED_BY_VARIANT, {"child_id": child_id, "rule": rules.PERSISTENCE})
                 .all()) if env.protocol.persistence else {}
    for rule in env.protocol.persistence:
        due = rules.persistence_due(child_id, eps, rule, env.protocol, env.zone, env.now,
                                    fired.get(rules.rule_name(rule)))
        if due is None:
            continue
        alert = _insert_alert(session, due, env.now)
        if alert is not None:
            crossing.setdefault((due.episode_id, due.at), []).append(alert)
    for group in crossing.values():
        _announce(session, group, env)
    return sum(len(group) for group in crossing.values())


def evaluate_child(session: Session, child_id: int, env: Env, eps: list[rules.Ep] | None = None) -> int:
    """Every rule for one child, as of env.now: the child's live episodes (`eps`, or read here)
    read once for all of them."""
    fired = 0
    horizon = env.now - timedelta(hours=env.protocol.interview_hours) - timedelta(days=env.protocol.overdue_reminder_days)
    if eps is None:
        eps = child_episodes(session, child_id)
    live = [ep for ep in eps if ep.returned_at is None or ep.returned_at >= horizon]
    if live:
        child = session.get(Child, child_id)
        placed_by = child.placed_by if child is not None else None
        for ep in live:
            fired += _evaluate_ep(session, ep, placed_by, env)
    return fired + evaluate_persistence(session, child_id, env, eps)


def candidates(session: Session, env: Env, since: datetime) -> tuple[list[int], set[int]]:
    """What could be due: open episodes, ended episodes still within the RI reminder horizon and
    without an outcome (their ids), and children whose episodes changed since `since` (for persistence)."""
    horizon = env.now - timedelta(hours=env.protocol.interview_hours) - timedelta(days=env.protocol.overdue_reminder_days)
    # Two lookups in the partial indexes of migration 0010 (one OR over both would read every
    # episode): what a sweep with nothing due costs does not grow with history.
    opened = session.scalars(select(Episode.id).where(Episode.returned_at.is_(None)))
    owed = session.scalars(select(Episode.id).where(Episode.returned_at.is_not(None), Episode.ri_outcome.is_(None),
                                                    Episode.returned_at >= horizon))
    eps = sorted({*opened, *owed})
    # A persistence alert needs at least `episodes` starts inside the window ending now, so only
    # children with that many starts inside the longest window (a day wider, for clock changes),
    # one of them changed since `since`, can have a new one. The changed ones come first, from
    # the index of episodes by last change.
    if not env.protocol.persistence:
        return eps, set()
    longest = max(r.days for r in env.protocol.persistence)
    fewest = min(r.episodes for r in env.protocol.persistence)
    window = env.now - timedelta(days=longest + 1)
    changed = select(Episode.child_id).where(Episode.updated_at >= since, Episode.started_at > window)
    children = set(session.scalars(
        select(Episode.child_id).where(Episode.child_id.in_(changed), Episode.started_at > window)
        .group_by(Episode.child_id).having(func.count() >= fewest)))
    return eps, children


def last_sweep_at(session: Session) -> datetime | None:
    return session.scalar(select(func.max(SweepRun.at)).where(SweepRun.error.is_(None)))


def record_sweep(session: Session, worker: str, at: datetime, enqueued: int, delivered: int, error: str | None) -> None:
    """One row per host (cron's `tick` is a new process each minute); hosts gone for a week are dropped."""
    host = worker.rsplit(":", 1)[0][:64]
    # Two processes of one host (two `tick`s, or serve beside a cron tick) may both be first:
    # insert-if-new, then update, so neither fails on the other's row.
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(insert(SweepRun).values(worker=host, at=at, enqueued=enqueued, delivered=delivered, error=error)
                    .on_conflict_do_nothing(index_elements=["worker"]))
    session.execute(update(SweepRun).where(SweepRun.worker == host)
                    .values(at=at, enqueued=enqueued, delivered=delivered, error=error))
    session.execute(delete(SweepRun).where(SweepRun.at < at - timedelta(days=7)))


# -- hooks: called by store/records.py inside the change's transaction -------------------------
def on_episode_opened(ctx: "Ctx", child: Child, episode: Episode, eps: list[rules.Ep] | None = None) -> None:
    """An episode was reported (or imported): high-risk, long-missing (back-dated reports) and
    persistence alerts, in the same transaction as the report. `eps`: the child's live episodes,
    the new one included, when the caller has them (`child_episodes`)."""
    env = env_of(ctx)
    due = rules.high_risk_due(ep_of(episode), env.protocol, None, env.now)
    if due is not None:
        fire(ctx.session, due, env)
    evaluate_child(ctx.session, child.id, env, eps)
    due = councils.notification_due(ctx, child, episode, ep_of(episode), "missing")
    if due is not None:
        fire(ctx.session, due, env_of(ctx))


def on_episode_closed(ctx: "Ctx", child: Child, episode: Episode) -> None:
    """The child returned: the RI clock starts (a back-dated return may already be due)."""
    evaluate_episode(ctx.session, episode, env_of(ctx))
    due = councils.notification_due(ctx, child, episode, ep_of(episode), "returned")
    if due is not None:
        fire(ctx.session, due, env_of(ctx))


def on_interview_recorded(ctx: "Ctx", child: Child, episode: Episode) -> None:
    """An RI outcome was recorded: reminders not yet sent for the episode are cancelled."""
    ctx.session.execute(update(Outbox).where(
        Outbox.episode_id == episode.id, Outbox.status == "pending",
        Outbox.kind.in_([f"alert.{rules.RI_REMINDER}", f"alert.{rules.RI_OVERDUE}"]),
    ).values(status="cancelled", error="interview recorded"))


def on_risk_changed(ctx: "Ctx", child: Child, episode: Episode, old_grade: str | None) -> None:
    """Re-graded `high` (from anything else) alerts at once."""
    env = env_of(ctx)
    due = rules.high_risk_due(ep_of(episode), env.protocol, old_grade, env.now)
    if due is not None:
        fire(ctx.session, due, env)


def on_import(ctx: "Ctx", child_ids: list[int]) -> None:
    """Imported history counts like new episodes: evaluate, in the import's transaction, the
    children whose imported episodes could make something due now (an episode inside the longest
    persistence window or the return-interview horizon, or still open). Older history only
    counts toward later thresholds; it never raises alerts about the past."""
    env = env_of(ctx)
    longest = max([r.days for r in env.protocol.persistence], default=0)
    horizon = timedelta(hours=env.protocol.interview_hours) + timedelta(days=env.protocol.overdue_reminder_days)
    recent = env.now - max(timedelta(days=longest + 1), horizon)
    ids = sorted(set(child_ids))
    live = or_(Episode.started_at > recent, Episode.returned_at.is_(None), Episode.returned_at > recent)
    if len(ids) <= 500:  # a few children: their episodes, by child
        found = set(ctx.session.scalars(select(Episode.child_id).where(Episode.child_id.in_(ids), live)))
    else:  # many: the recent and open episodes' children (by the time indexes), those imported kept.
        # (Asked 500 imported children at a time, each query read the whole table: 0.7 s for
        # 100,000 imported episodes on PostgreSQL, growing with the square of the file's size.)
        found = set(ctx.session.scalars(select(Episode.child_id).distinct().where(live))).intersection(ids)
    for child_id in sorted(found):
        evaluate_child(ctx.session, child_id, env)


def on_child_changed(ctx: "Ctx", child: Child) -> None:
    """Nothing to do: a new allocated worker receives the direct messages of later alerts."""


# -- acknowledgement and health --------------------------------------------------------------
def acknowledge(session: Session, alert_id: int, user_id: str, now: datetime) -> bool:
    """Record who acknowledged first: True when this call did. A later press, even one racing
    the first in another process, keeps the first (the update is conditional). Alerts announced
    in the same message (`_announce`) are acknowledged with it."""
    if session.execute(update(Alert).where(Alert.id == alert_id, Alert.acknowledged_at.is_(None))
                       .values(acknowledged_at=now, acknowledged_by=user_id)
                       .execution_options(synchronize_session=False)).rowcount != 1:
        return False
    detail = session.scalar(select(Alert.detail).where(Alert.id == alert_id)) or {}
    others = [a["key"] for a in detail.get("actions") or () if a.get("key")]
    if others:
        session.execute(update(Alert).where(Alert.key.in_(others), Alert.acknowledged_at.is_(None))
                        .values(acknowledged_at=now, acknowledged_by=user_id)
                        .execution_options(synchronize_session=False))
    return True


@dataclass
class Health:
    last_sweep: SweepRun | None
    pending: int
    sending: int
    failed: int
    oldest_undelivered: datetime | None
    recent_failures: list[tuple[str, str, str, int]]  # (platform, address, error, rows)
    # Sent after an unknown outcome without looking for an earlier copy (history scopes refused).
    unchecked: list[tuple[str, int]] = ()  # (error, rows)


def health(session: Session) -> Health:
    def count(status: str) -> int:
        return session.scalar(select(func.count()).select_from(Outbox).where(Outbox.status == status)) or 0

    last = session.scalars(select(SweepRun).order_by(SweepRun.at.desc()).limit(1)).first()
    oldest = session.scalar(select(func.min(Outbox.created_at)).where(Outbox.status.in_(["pending", "sending"])))
    failures = [(p, c, e or "", n) for p, c, e, n in session.execute(
        select(Outbox.platform, Outbox.address, Outbox.error, func.count()).where(Outbox.status == "failed")
        .group_by(Outbox.platform, Outbox.address, Outbox.error).order_by(func.count().desc()).limit(5))]
    unchecked = [(e or "", n) for e, n in session.execute(
        select(Outbox.error, func.count()).where(Outbox.status == "sent", Outbox.error.like(f"{UNCHECKED}%"))
        .group_by(Outbox.error))]
    return Health(last, count("pending"), count("sending"), count("failed"), oldest, failures, unchecked)
