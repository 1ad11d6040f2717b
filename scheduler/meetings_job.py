"""The meetings step of every sweep: agendas at their lead time, overdue-action reminders, emailed invites.

- Agenda: for each live series, the next occurrence whose build time (lead working days
  before, see bot.protocol.meetings.agenda_due_at) has come and which has not started yet
  gets its agenda built, stored in the occurrence, queued for the channel and (with SMTP_URL)
  emailed to the chair and attendees as its own message. It never goes into an invite and
  never raises the series' SEQUENCE. The stored marker is claimed by a conditional UPDATE and the outbox
  keys are unique, so any number of sweeps in any number of processes post it once. A meeting
  that has already started when the bot comes back gets no stale agenda.
- Overdue actions: one reminder the day after the due date, then one a week while open
  (outbox key per action and week).
- Email (when SMTP_URL is set): every series whose SEQUENCE is ahead of what attendees were
  last sent is emailed as an iMIP REQUEST (or CANCEL), each newly cancelled occurrence as a
  CANCEL with its RECURRENCE-ID (alone: the series is not sent again for it). Each email is an outbox row (key per series and SEQUENCE, or per
  cancelled occurrence) written in the transaction that marks it sent, and delivered like every
  other message (scheduler/delivery.py): once, with retries, whatever the number of processes."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from sqlalchemy import update

from bot import ics, mail
from bot.context import Services
from bot.protocol import agenda as ag
from bot.protocol import meetings as pm
from bot.render import local, who
from bot.messages import Message, Person
from bot.platforms import EMAIL, platform_for
from scheduler.transports import NotPrivate, require_private
from store import meetings as sm
from store.outbox import enqueue

log = logging.getLogger(__name__)


def build_due_agendas(services: Services, now: datetime) -> int:
    built = 0
    channel = services.settings.alert_channel
    with services.sessions.begin() as s:
        sm.sync_protocol(s, services.protocol, now=now, channel=channel)
        for series in sm.all_series(s):
            spec = series.spec
            # the next meeting not yet started (or starting now)
            nxt = pm.next_occurrence(spec, series.dtstart, now, series.skip())
            if nxt is None or pm.agenda_due_at(spec, nxt) > now:
                continue
            agenda = sm.build_agenda(s, series, nxt, protocol=services.protocol, now=now)
            if sm.mark_agenda_built(s, series, nxt, agenda, now):
                key = f"meeting:agenda:{series.id}:{nxt.astimezone(timezone.utc):%Y%m%dT%H%M}"
                target = sm.channel_of(series, channel)
                try:
                    require_private(services, platform_for(target), target)
                except NotPrivate:
                    # The agenda names children with places and concerns: a public channel gets a pointer only.
                    enqueue(s, key=f"{key}:notice", kind="meeting_agenda", channel=target, now=now,
                            text=f"The agenda for {series.name} on {nxt.astimezone(spec.zone):%a %d %b %Y %H:%M} "
                                 "is ready. It holds children's details, so it is not posted in this public "
                                 "channel: type `/missing agenda` to see it privately.")
                else:
                    sm.post_agenda(s, series, agenda, channel=target, now=now, key=key)
                queue_agenda_email(s, services, series, agenda, key=key, now=now)
                built += 1
    return built


def remind_overdue_actions(services: Services, now: datetime) -> int:
    sent = 0
    zone = services.zone
    today = now.astimezone(zone).date()
    with services.sessions.begin() as s:
        for action in sm.open_actions(s):
            late = (today - action.due_on).days
            if late < 1:
                continue
            series = s.get(sm.MeetingSeries, action.series_id) if action.series_id else None
            channel = sm.channel_of(series, services.settings.alert_channel) if series else services.settings.alert_channel
            subject = who(action.child.child_ref, action.child.label) if action.child else "general"
            text = (f":alarm_clock: Action #{action.id} ({subject}) for " + Person(action.owner_user_id)
                    + f" was due {action.due_on:%a %d %b %Y}: {action.text}\nWhen it is done: "
                    f"`/missing action done {action.id}`")
            sent += enqueue(s, key=f"meeting:action-overdue:{action.id}:{(late - 1) // 7}", kind="action_overdue",
                            channel=channel, message=Message(text, visibility="channel"), now=now)
    return sent


def _person(p: pm.Person) -> tuple[str, str]:
    return (p.name, p.email)


def _reply_to(spec: pm.SeriesConfig) -> tuple[str, str] | None:
    return _person(spec.chair) if spec.chair else None


def agenda_recipients(spec: pm.SeriesConfig) -> list[tuple[str, str]]:
    """The chair and the attendees, each once."""
    people = ([spec.chair] if spec.chair else []) + spec.attendees
    seen, out = set(), []
    for p in people:
        if p.email not in seen:
            seen.add(p.email)
            out.append(_person(p))
    return out


def queue_agenda_email(s, services: Services, series: sm.MeetingSeries, agenda, *, key: str, now: datetime) -> bool:
    """The agenda as its own email to the chair and attendees (when SMTP_URL is set), queued in the
    transaction that claims the agenda: once per meeting."""
    settings = services.settings
    spec = series.spec
    people = agenda_recipients(spec)
    if not settings.smtp_url or not people:
        return False
    when = local(agenda.meeting, spec.zone)
    stamp = f"{agenda.meeting.astimezone(spec.zone):%Y-%m-%d}"
    msg = mail.agenda_message(markdown=ag.to_markdown(agenda), html_body=ag.to_html(agenda),
                              filename=f"agenda-{stamp}.md", marking=settings.agenda_marking,
                              sender=settings.bot_address, recipients=people, reply_to=_reply_to(spec), now=now,
                              subject=f"{spec.name} agenda, {when}")
    return enqueue(s, key=f"mail:{key}", kind="meeting.agenda_email", channel=EMAIL, text=str(msg["Subject"]),
                   now=now, payload={"email": msg.as_string()})


def email_invites(services: Services, now: datetime) -> int:
    """Queue the emails of each changed series in the outbox; returns how many were queued.

    Invites go to the attendees (never the chair: the chair is the ORGANIZER, the bot SENT-BY),
    From the bot's own address with Reply-To the chair."""
    settings = services.settings
    if not settings.smtp_url:
        return 0
    sender = settings.bot_address
    queued = 0
    with services.sessions.begin() as s:
        for series in sm.all_series(s, include_cancelled=True):
            spec = series.spec
            people = [_person(p) for p in ics.attendees(spec)]
            if not people:
                continue
            data = sm.series_data(series, sent_by=sender[1])
            reply_to = _reply_to(spec)

            def queue(key: str, msg) -> None:
                nonlocal queued
                queued += enqueue(s, key=key, kind="meeting.email", channel=EMAIL, text=str(msg["Subject"]), now=now,
                                  payload={"email": msg.as_string()})

            for occ in series.occurrences:
                if occ.cancelled_at and occ.cancel_mailed_at is None and series.cancelled_at is None:
                    if series.mailed_sequence >= 0:  # never invited: the first invite carries the EXDATE
                        when = local(occ.starts_at, spec.zone)
                        queue(f"mail:cancel:{occ.id}", mail.invite_message(
                            ics=ics.cancel_occurrence(data, occ.starts_at), sender=sender, recipients=people,
                            reply_to=reply_to, now=now, subject=f"Cancelled: {spec.name}, {when}",
                            text=f"The {spec.name} on {when} is cancelled. The series carries on."))
                    s.execute(update(sm.MeetingOccurrence).where(sm.MeetingOccurrence.id == occ.id)
                              .values(cancel_mailed_at=now))
            if series.mailed_sequence >= series.sequence:
                continue
            if series.cancelled_at:
                if series.mailed_sequence >= 0:  # never invited: nothing to cancel
                    queue(f"mail:series:{series.id}:{series.sequence}", mail.invite_message(
                        ics=ics.cancel_series(data), sender=sender, recipients=people, reply_to=reply_to, now=now,
                        subject=f"Cancelled: {spec.name}", text=f"The {spec.name} series is cancelled."))
            else:
                nxt = sm.upcoming(series, now, 1)
                first = f"The next meeting is {local(nxt[0], spec.zone)}." if nxt else ""
                where = f"\nWhere: {spec.location}" if spec.location else ""
                chair = f"\nChair: {spec.chair}" if spec.chair else ""
                queue(f"mail:series:{series.id}:{series.sequence}", mail.invite_message(
                    ics=ics.request(data), sender=sender, recipients=people, reply_to=reply_to, now=now,
                    subject=f"Invitation: {spec.name} ({pm.describe_rrule(spec.rrule)})",
                    text=f"{spec.name}, {pm.describe_rrule(spec.rrule)}, {spec.start_time:%H:%M} "
                         f"for {spec.duration_minutes} minutes. {first}{where}{chair}\n\n"
                         "The agenda of each meeting is emailed to you on its own before the meeting; "
                         "it is never put in the invite."))
            s.execute(update(sm.MeetingSeries).where(sm.MeetingSeries.id == series.id,
                                                     sm.MeetingSeries.mailed_sequence < series.sequence)
                      .values(mailed_sequence=series.sequence))
    return queued


def meetings_step(services: Services, now: datetime) -> None:
    """One sweep's meeting work (see the module docstring). Each part has its own transaction; one
    that fails is logged (its exception type only) and does not keep the others from running."""
    failed = []
    for part in (build_due_agendas, remind_overdue_actions, email_invites):
        try:
            part(services, now)
        except Exception as exc:  # noqa: BLE001
            log.error("meetings: %s failed: %s", part.__name__, type(exc).__name__)
            failed.append(exc)
    if failed:
        raise failed[0]  # the sweep records the step as failed

