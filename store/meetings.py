"""Meeting series, their occurrences (cancellations, agenda markers) and meeting actions.

Every change writes an audit record and queues its channel messages in the outbox within
the same transaction. A change to what an invite shows (name, schedule, place, people) or a
cancellation raises the series' SEQUENCE; other settings (channel, agenda lead time) and agendas
never do, so attendees are not asked to accept the series again. `mailed_sequence` records which
version attendees were last emailed (scheduler/meetings_job.py sends the rest)."""
from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from bot import ics
from bot.protocol import agenda as ag
from bot.protocol import meetings as pm
from bot.protocol.config import Protocol
from bot.render import local, who
from store.audit import audit, snapshot
from store.db import insert_new
from store.models import USER, Base, Child, Episode
from store.outbox import enqueue
from store.records import held_for_episodes

log = logging.getLogger(__name__)


class MeetingSeries(Base):
    __tablename__ = "meeting_series"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    config: Mapped[dict]  # a SeriesConfig, as JSON
    dtstart: Mapped[date] = mapped_column(Date)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    mailed_sequence: Mapped[int] = mapped_column(Integer, default=-1)
    source: Mapped[str] = mapped_column(String(16), default="slack")  # slack | protocol
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(USER))
    updated_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    cancelled_by: Mapped[str | None] = mapped_column(String(USER))

    occurrences: Mapped[list["MeetingOccurrence"]] = relationship(back_populates="series",
                                                                   order_by="MeetingOccurrence.starts_at")

    @property
    def spec(self) -> pm.SeriesConfig:
        return pm.SeriesConfig.model_validate(self.config)

    def skip(self) -> set[datetime]:
        return {o.starts_at for o in self.occurrences if o.cancelled_at}


class MeetingOccurrence(Base):
    """One occurrence that differs from the rule: cancelled, or with its agenda built."""

    __tablename__ = "meeting_occurrences"
    __table_args__ = (UniqueConstraint("series_id", "starts_at", name="uq_meeting_occurrence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("meeting_series.id"), index=True)
    starts_at: Mapped[datetime]  # the start the rule gives (RECURRENCE-ID), UTC
    cancelled_at: Mapped[datetime | None]
    cancelled_by: Mapped[str | None] = mapped_column(String(USER))
    cancel_mailed_at: Mapped[datetime | None]
    agenda_built_at: Mapped[datetime | None]
    agenda_text: Mapped[str | None] = mapped_column(Text)

    series: Mapped[MeetingSeries] = relationship(back_populates="occurrences")


class Action(Base):
    __tablename__ = "meeting_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int | None] = mapped_column(ForeignKey("meeting_series.id"))
    child_id: Mapped[int | None] = mapped_column(ForeignKey("children.id"))
    text: Mapped[str] = mapped_column(Text)
    owner_user_id: Mapped[str] = mapped_column(String(USER))
    due_on: Mapped[date] = mapped_column(Date, index=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(USER))
    done_at: Mapped[datetime | None] = mapped_column(index=True)
    done_by: Mapped[str | None] = mapped_column(String(USER))

    child: Mapped[Child | None] = relationship()


# -- series -------------------------------------------------------------------
def all_series(session: Session, include_cancelled: bool = False) -> list[MeetingSeries]:
    q = select(MeetingSeries).order_by(MeetingSeries.id)
    if not include_cancelled:
        q = q.where(MeetingSeries.cancelled_at.is_(None))
    return list(session.scalars(q))


def find_series(session: Session, text: str) -> MeetingSeries | None:
    """By id (`2` or `#2`), by name (any case), or by the start of one name."""
    text = text.strip()
    live = all_series(session)
    if text.lstrip("#").isdigit():
        return next((s for s in live if s.id == int(text.lstrip("#"))), None)
    key = text.casefold()
    exact = [s for s in live if s.name.casefold() == key]
    if exact:
        return exact[0]
    starts = [s for s in live if s.name.casefold().startswith(key)]
    return starts[0] if len(starts) == 1 else None


def series_named(session: Session, name: str) -> MeetingSeries | None:
    """The series called `name` (any case), cancelled or not: the one `save_series` would change."""
    key = name.strip().casefold()
    return next((s for s in all_series(session, True) if s.name.casefold() == key), None)


def channel_of(series: MeetingSeries, default: str) -> str:
    return series.spec.channel or default


def save_series(session: Session, config: pm.SeriesConfig, *, actor: str, now: datetime,
                source: str = "slack", channel: str = "", revive: bool = True) -> tuple[MeetingSeries, bool]:
    """Create the series named `config.name`, or update it when its settings differ.

    Returns (series, changed). A change raises SEQUENCE and posts the new invite. Saving a
    cancelled series brings it back, unless `revive` is False and its settings are unchanged
    (the protocol file, synced every sweep, does not undo a cancellation made in Slack)."""
    row = session.scalar(select(MeetingSeries).where(MeetingSeries.name == config.name))
    if row is None:
        row = series_named(session, config.name)
    data = config.model_dump(mode="json")
    first = config.first_date or now.astimezone(config.zone).date()
    if row is not None and row.config == data and (row.cancelled_at is None or not revive):
        return row, False
    if row is not None and row.cancelled_at is None and invite_fields(row.spec) == invite_fields(config) \
            and row.spec.first_date == config.first_date:
        # nothing an invite shows has changed (e.g. the channel or the agenda's lead time): no new version
        before = snapshot(row, ("config",))
        row.config, row.updated_at = data, now
        audit(session, actor=actor, action="meeting.update", entity="meeting_series", entity_id=row.id, now=now,
              before=before, after=snapshot(row, ("config",)))
        return row, True
    # a new DTSTART for a new series, a given first date or a new rule (pm.NoMeetingLeft before any change)
    moved = row is None or bool(config.first_date) or row.config.get("rrule") != data["rrule"]
    dtstart = pm.first_occurrence_date(config, first) if moved else row.dtstart
    if row is None:
        row = MeetingSeries(uid=f"{uuid.uuid4()}@missing-bot", name=config.name, config=data,
                            dtstart=dtstart, sequence=0, mailed_sequence=-1,
                            source=source, created_at=now, created_by=actor, updated_at=now)
        session.add(row)
        session.flush()
        audit(session, actor=actor, action="meeting.create", entity="meeting_series", entity_id=row.id, now=now,
              after=snapshot(row, ("name", "config", "dtstart", "uid")))
    else:
        before = snapshot(row, ("name", "config", "dtstart", "sequence", "cancelled_at"))
        old_spec, old_dtstart = row.spec, row.dtstart
        row.config, row.updated_at, row.sequence = data, now, row.sequence + 1
        row.cancelled_at = row.cancelled_by = None
        row.dtstart = dtstart
        _move_occurrences(session, row, old_spec, old_dtstart, now)
        audit(session, actor=actor, action="meeting.update", entity="meeting_series", entity_id=row.id, now=now,
              before=before, after=snapshot(row, ("name", "config", "dtstart", "sequence", "cancelled_at")))
    post_invite(session, row, channel=channel_of(row, channel), now=now)
    return row, True


def invite_fields(spec: pm.SeriesConfig) -> tuple:
    """What the invite shows: a change to any of these is a new version sent to the attendees."""
    return (spec.name, spec.rrule, spec.start_time, spec.duration_minutes, spec.timezone, spec.location,
            spec.chair, tuple(spec.attendees))


def _move_occurrences(session: Session, series: MeetingSeries, old: pm.SeriesConfig, old_dtstart: date,
                      now: datetime) -> None:
    """After a change of time, zone or rule, carry each future cancellation over to the meeting
    on the same day under the new settings (none that day: it is dropped). A built agenda of a
    moved meeting is dropped, so the meeting gets a new one under its new start."""
    spec = series.spec
    if (old.rrule, old.start_time, old.timezone, old_dtstart) == (spec.rrule, spec.start_time, spec.timezone,
                                                                   series.dtstart):
        return
    taken = {o.starts_at for o in series.occurrences}
    for occ in list(series.occurrences):
        if occ.starts_at < now:
            continue
        day = occ.starts_at.astimezone(old.zone).date()
        found = pm.occurrences(spec, series.dtstart, datetime.combine(day, time(0), tzinfo=spec.zone),
                               datetime.combine(day + timedelta(days=1), time(0), tzinfo=spec.zone))
        new_start = found[0].astimezone(timezone.utc) if found else None
        if new_start == occ.starts_at:
            continue
        if new_start is None or new_start in taken or not occ.cancelled_at:
            series.occurrences.remove(occ)
            session.delete(occ)
            continue
        taken.add(new_start)
        occ.starts_at, occ.agenda_built_at, occ.agenda_text = new_start, None, None
    session.flush()


def sync_protocol(session: Session, protocol: Protocol, *, now: datetime, channel: str) -> int:
    """Create or update the series of the protocol file's `[[meetings]]`; returns how many changed."""
    changed = 0
    for config in protocol.meetings:
        try:
            _, did = save_series(session, config, actor="protocol", now=now, source="protocol", channel=channel,
                                 revive=False)
        except pm.NoMeetingLeft:  # one finished series in the file must not stop the others
            log.warning("protocol file meeting series %r has no meeting left; not saved", config.name)
            continue
        changed += did
    return changed


def occurrence(session: Session, series: MeetingSeries, start: datetime) -> MeetingOccurrence:
    """The occurrence row of `start`, added if there is none (by this process or, at the same moment,
    another one: the insert skips a row that exists, so two sweeps never collide on it)."""
    start = start.astimezone(timezone.utc)
    session.flush()
    if session.execute(insert_new(session, MeetingOccurrence, keys=["series_id", "starts_at"],
                                  series_id=series.id, starts_at=start)).first() is not None:
        session.expire(series, ["occurrences"])
    return session.scalar(select(MeetingOccurrence).where(MeetingOccurrence.series_id == series.id,
                                                          MeetingOccurrence.starts_at == start))


def upcoming(series: MeetingSeries, now: datetime, count: int = 3) -> list[datetime]:
    spec = series.spec
    return pm.occurrences(spec, series.dtstart, now, now + timedelta(days=800), series.skip())[:count]


def cancel_series(session: Session, series: MeetingSeries, *, actor: str, now: datetime, channel: str) -> None:
    before = snapshot(series, ("sequence", "cancelled_at"))
    series.cancelled_at, series.cancelled_by = now, actor
    series.sequence += 1
    series.updated_at = now
    audit(session, actor=actor, action="meeting.cancel", entity="meeting_series", entity_id=series.id, now=now,
          before=before, after=snapshot(series, ("sequence", "cancelled_at")))
    data = series_data(series)
    enqueue(session, key=f"meeting:cancel:{series.id}:{series.sequence}", kind="meeting_invite",
            channel=channel_of(series, channel), now=now,
            text=f":x: *{series.name}* is cancelled: every future meeting of the series.",
            payload={"file": {"filename": "cancel.ics", "title": f"{series.name} (cancelled)",
                              "content": ics.cancel_series(data).decode()}})


def cancel_occurrence(session: Session, series: MeetingSeries, start: datetime, *, actor: str, now: datetime,
                      channel: str) -> MeetingOccurrence:
    """Cancel one date. Attendees are emailed that occurrence's CANCEL (RECURRENCE-ID) alone, not the
    series again; the channel gets one upload with the CANCEL and then the whole series (with the
    date as an EXDATE), so a calendar that imports files in order, or only whole calendars, ends right."""
    row = occurrence(session, series, start)
    row.cancelled_at, row.cancelled_by = now, actor
    caught_up = series.mailed_sequence >= series.sequence
    series.sequence += 1
    if caught_up:  # the occurrence's CANCEL brings attendees to this version (scheduler/meetings_job.py)
        series.mailed_sequence = series.sequence
    series.updated_at = now
    audit(session, actor=actor, action="meeting.cancel_occurrence", entity="meeting_series", entity_id=series.id,
          now=now, after={"starts_at": row.starts_at.isoformat(), "sequence": series.sequence})
    zone = series.spec.zone
    data = series_data(series)
    day = f"{start.astimezone(zone):%Y-%m-%d}"
    enqueue(session, key=f"meeting:cancel:{series.id}:{row.starts_at.isoformat()}", kind="meeting_invite",
            channel=channel_of(series, channel), now=now,
            text=f":x: *{series.name}* on {local(start, zone)} is cancelled; the series carries on. "
                 "Open both files, in order, to update your calendar.",
            payload={"files": [
                {"filename": f"cancel-{day}.ics", "title": f"{series.name} {start.astimezone(zone):%d %b %Y} (cancelled)",
                 "content": ics.cancel_occurrence(data, start).decode()},
                {"filename": "invite.ics", "title": f"{series.name} (updated series)",
                 "content": ics.request(data).decode()}]})
    return row


def series_data(series: MeetingSeries, sent_by: str = "") -> ics.SeriesData:
    """The calendar's view of `series`; `sent_by` is the bot's own address (SMTP_FROM) for emails."""
    spec = series.spec
    # only instances the rule gives: an EXDATE of any other start means nothing
    occ = [o for o in series.occurrences
           if pm.occurrences(spec, series.dtstart, o.starts_at, o.starts_at + timedelta(minutes=1)) != []]
    return ics.SeriesData(uid=series.uid, config=series.spec, dtstart=series.dtstart, sequence=series.sequence,
                          created=series.created_at, updated=series.updated_at,
                          cancelled=series.cancelled_at is not None,
                          exdates=[o.starts_at for o in occ if o.cancelled_at], sent_by=sent_by)


def post_invite(session: Session, series: MeetingSeries, *, channel: str, now: datetime) -> bool:
    """Queue the series' current .ics (METHOD:REQUEST) for the channel, once per SEQUENCE."""
    spec = series.spec
    nxt = upcoming(series, now, 1)
    when = f" Next: {local(nxt[0], spec.zone)}." if nxt else ""
    return enqueue(session, key=f"meeting:invite:{series.id}:{series.sequence}", kind="meeting_invite",
                   channel=channel, now=now,
                   text=f":calendar: *{series.name}*, {pm.describe_rrule(spec.rrule)}, "
                        f"{spec.start_time:%H:%M} for {spec.duration_minutes} min.{when} Open the file to add it to your calendar.",
                   payload={"file": {"filename": "invite.ics", "title": series.name,
                                     "content": ics.request(series_data(series)).decode()}})


# -- agenda -------------------------------------------------------------------
def _child_info(c: Child) -> ag.ChildInfo:
    return ag.ChildInfo(ref=c.child_ref, label=c.label, looked_after=c.looked_after, placement_type=c.placement_type)


def _episode_info(e: Episode, child: ag.ChildInfo, held: list | None = None) -> ag.EpisodeInfo:
    return ag.EpisodeInfo(id=e.id, child=child, started_at=e.started_at, returned_at=e.returned_at,
                          episode_type=e.episode_type, placement_type=e.placement_type, risk_grade=e.risk_grade,
                          found_location=e.found_location, cse_concern=e.cse_concern, cce_concern=e.cce_concern,
                          ri_outcome=e.ri_outcome, ri_at=e.ri_at,
                          meetings_held=tuple((m.kind, m.held_at) for m in held or ()))


def open_actions(session: Session, series: MeetingSeries | None = None) -> list[Action]:
    """Every open action; with `series`, those of that series and the general ones (no series)."""
    q = select(Action).where(Action.done_at.is_(None))
    if series is not None:
        q = q.where(or_(Action.series_id == series.id, Action.series_id.is_(None)))
    return list(session.scalars(q.order_by(Action.due_on, Action.id)))


def build_agenda(session: Session, series: MeetingSeries, meeting: datetime, *, protocol: Protocol,
                 now: datetime) -> ag.Agenda:
    """Load what the agenda of `meeting` needs and build it (nothing is written)."""
    spec = series.spec
    skip = series.skip() - {meeting.astimezone(timezone.utc)}
    start = pm.review_period_start(spec, series.dtstart, meeting, skip)
    previous = pm.review_period_start(spec, series.dtstart, start, skip)
    longest = max([r.days for r in protocol.persistence], default=0)
    horizon = previous - timedelta(days=longest)
    rows = session.execute(
        select(Episode, Child).join(Child, Episode.child_id == Child.id).where(or_(
            Episode.started_at >= horizon, Episode.returned_at.is_(None), Episode.returned_at >= previous))
    ).all()
    children: dict[int, ag.ChildInfo] = {}
    episodes = []
    held = held_for_episodes(session, [e.id for e, _ in rows])
    for e, c in rows:
        info = children.setdefault(c.id, _child_info(c))
        episodes.append(_episode_info(e, info, held.get(e.id)))
    actions = [ag.ActionInfo(id=a.id, child=_child_info(a.child) if a.child else None, text=a.text,
                             owner_user_id=a.owner_user_id, due_on=a.due_on, created_at=a.created_at)
               for a in open_actions(session, series)]
    return ag.build_agenda(series=series.name, meeting=meeting, period_start=start, previous_start=previous,
                           episodes=episodes, actions=actions, protocol=protocol, now=now, zone=spec.zone)


def post_agenda(session: Session, series: MeetingSeries, agenda: ag.Agenda, *, channel: str, now: datetime,
                key: str) -> bool:
    """Queue the agenda for the channel: the summary, then the full document as Markdown and HTML."""
    from bot.render_agenda import agenda_message

    added = enqueue(session, key=f"{key}:summary", kind="meeting_agenda", channel=channel, now=now,
                    text=ag.summary_text(agenda), message=agenda_message(agenda), thread_key=key)
    stamp = f"{agenda.meeting.astimezone(agenda.zone):%Y-%m-%d}"
    for ext, content in (("md", ag.to_markdown(agenda)), ("html", ag.to_html(agenda))):
        enqueue(session, key=f"{key}:{ext}", kind="meeting_agenda", channel=channel, now=now, thread_key=key,
                text=f"Full agenda ({'Markdown' if ext == 'md' else 'HTML'})",
                payload={"file": {"filename": f"agenda-{stamp}.{ext}", "content": content, "title": agenda.title}})
    return added


def mark_agenda_built(session: Session, series: MeetingSeries, meeting: datetime, agenda: ag.Agenda,
                      now: datetime) -> bool:
    """Claim the automatic agenda of `meeting`: True for the one caller that stores it first.

    The agenda never goes into an invite (it holds children's details): the series' SEQUENCE
    stays as it is and nobody is asked to accept the meeting again."""
    row = occurrence(session, series, meeting)
    claimed = session.execute(
        update(MeetingOccurrence).where(MeetingOccurrence.id == row.id, MeetingOccurrence.agenda_built_at.is_(None))
        .values(agenda_built_at=now, agenda_text=ag.to_markdown(agenda)).execution_options(synchronize_session=False)
    ).rowcount == 1
    if claimed:
        session.refresh(row)
        audit(session, actor="scheduler", action="meeting.agenda", entity="meeting_series", entity_id=series.id,
              now=now, after={"starts_at": row.starts_at.isoformat()})
    return claimed


# -- actions ------------------------------------------------------------------
def add_action(session: Session, *, child: Child | None, text: str, owner: str, due_on: date, actor: str,
               now: datetime, series: MeetingSeries | None = None) -> Action:
    row = Action(series_id=series.id if series else None, child_id=child.id if child else None, text=text,
                 owner_user_id=owner, due_on=due_on, created_at=now, created_by=actor)
    session.add(row)
    session.flush()
    audit(session, actor=actor, action="action.add", entity="meeting_action", entity_id=row.id, now=now,
          after=snapshot(row, ("child_id", "text", "owner_user_id", "due_on", "series_id")))
    return row


def complete_action(session: Session, action: Action, *, actor: str, now: datetime) -> None:
    action.done_at, action.done_by = now, actor
    audit(session, actor=actor, action="action.done", entity="meeting_action", entity_id=action.id, now=now,
          before={"done_at": None}, after={"done_at": now.isoformat(), "done_by": actor})


def action_label(session: Session, action: Action) -> str:
    return who(action.child.child_ref, action.child.label) if action.child else "general"
