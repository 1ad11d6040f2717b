"""Alerts as neutral messages (bot/messages.py): case reference and label only (never a name or
date of birth), what happened, what the protocol asks, since when (in the council's zone), who
acted, and buttons. Rendered when delivered, so a copy shows the alert as it is then."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot import render_councils
from bot.messages import CHANNEL, Action, Message, Person
from bot.protocol import clock as rules
from bot.protocol import councils as council_rules
from bot.protocol.config import Protocol
from bot.protocol.words import episode_word, held_meeting_word, outcome_word, risk_word
from bot.render import duration, local, who

ACK = "alert_ack"
RECORD_RI = "alert_record_ri"
STRATEGY_HELD = "alert_strategy_held"
LATE = timedelta(minutes=5)  # a reminder stored later than this after its instant shows the real time left


def _hours(n) -> str:
    return f"{n} hour" if str(n) == "1" else f"{n} hours"


def _away_part(n) -> str:
    return f" ({n} of them away from placement)" if n else ""


def _persistence(d: dict, child_txt: str) -> tuple[str, str, str]:
    """One episode may cross several rules at once (3 in 30 days and 3 in 90 days): one message
    says every count and lists every action asked for (`actions`, see store.alerts._announce)."""
    crossed = d.get("actions") or [d]
    counts = [f"{c.get('count')} episodes in {c.get('days')} days" for c in crossed]
    short = counts[0] + "".join(f" and {c.get('count')} in {c.get('days')} days" for c in crossed[1:])
    what = "this episode brings the count to " + " and ".join(
        f"{c.get('count')} within {c.get('days')} days{_away_part(c.get('away'))}" for c in crossed)
    if len(crossed) == 1:
        asks = str(d.get("action", ""))
    else:
        asks = "".join(f"\n• {c.get('action')} ({c.get('episodes')} in {c.get('days')} days)" for c in crossed)
    return f":repeat: {short}: {child_txt}", what, asks


def _headline(alert, child_txt: str, episode=None, zone: ZoneInfo | None = None) -> tuple[str, str, str]:
    """(emoji headline, what happened, what the protocol asks)."""
    d = alert.detail or {}
    if alert.rule in council_rules.RULES:
        return render_councils.headline(alert, child_txt)
    if alert.rule == rules.RI_REMINDER:
        left = f"{d.get('hours_left')} h"
        # Fired late (a return recorded late, or the bot was down): say what really remained then.
        if d.get("deadline") and alert.created_at - alert.due_at > LATE:
            left = duration(datetime.fromisoformat(d["deadline"]) - alert.created_at)
        return (f":hourglass_flowing_sand: Return interview due in {left}: {child_txt}",
                "returned; no return interview outcome is recorded yet",
                "offer and hold a return interview before the deadline")
    if alert.rule == rules.RI_OVERDUE:
        late = alert.due_at - datetime.fromisoformat(d["deadline"]) if d.get("deadline") else timedelta(0)
        if not late:
            late = ""
        elif late % timedelta(days=1) == timedelta(0):
            late = f" by {late.days} day{'s' if late.days > 1 else ''}"
        else:
            late = f" by {duration(late)}"
        return (f":warning: Return interview overdue{late}: {child_txt}",
                "the return interview deadline has passed with no outcome recorded",
                "hold the return interview, or record it as completed, declined or voided")
    if alert.rule == rules.LONG_MISSING:
        # Counted from when the child went missing (the episode's start), not from the report.
        started = episode.started_at if episode is not None else (
            datetime.fromisoformat(d["started_at"]) if d.get("started_at") else None)
        kind = episode_word(episode.episode_type if episode is not None else "missing")
        since = f" since {local(started, zone)}" if started is not None and zone is not None else ""
        return (f":rotating_light: {kind.capitalize()} for {_hours(d.get('hours'))}{since}: {child_txt}",
                f"{kind} for {_hours(d.get('hours'))}{since} (counted from when the child went missing, "
                "not from the report)", str(d.get("action", "")))
    if alert.rule == rules.PERSISTENCE:
        return _persistence(d, child_txt)
    if alert.rule == rules.HIGH_RISK:
        was = f" (was {risk_word(d['old_grade'])})" if d.get("old_grade") else ""
        return (f":red_circle: High risk: {child_txt}", f"police risk grade is high{was}",
                "immediate response: strategy discussion with police and the duty manager")
    return (f"Alert: {child_txt}", alert.rule, "")


def render_alert(alert, child, episode, protocol: Protocol, zone: ZoneInfo, held=(), visibility: str = CHANNEL) -> Message:
    """The alert as a message; acknowledgement, and the meetings held in answer to it (`held`:
    HeldMeeting rows linked to the alert), shown when recorded."""
    child_txt = who(child.child_ref, child.label) if child is not None else "unknown child"
    headline, what, asks = _headline(alert, child_txt, episode, zone)
    if alert.rule in (rules.RI_REMINDER, rules.RI_OVERDUE) and episode is not None and episode.episode_type == "away":
        what = "returned from being away from placement; " + what.removeprefix("returned; ")
    lines = [f"*What happened:* {what}."]
    if asks.startswith("\n"):  # a list of actions
        lines.append(f"*The protocol asks:*{asks}")
    elif asks:
        lines.append(f"*The protocol asks:* {asks}.")
    d = alert.detail or {}
    if alert.rule in (rules.RI_REMINDER, rules.RI_OVERDUE) and episode is not None and episode.returned_at:
        lines.append(f"*Returned:* {local(episode.returned_at, zone)}  ·  *Due by:* "
                     f"{local(rules.ri_deadline(episode.returned_at, protocol), zone)}")
    elif episode is not None:
        lines.append(f"*{episode_word(episode.episode_type).capitalize()} since:* {local(episode.started_at, zone)}"
                     + (f"  ·  *Returned:* {local(episode.returned_at, zone)}" if episode.returned_at else ""))
    if render_councils.contact_line(alert):
        lines.append(render_councils.contact_line(alert))
    if alert.rule == rules.RI_OVERDUE:
        lines.append(f"*Overdue since:* {local(datetime.fromisoformat(d['deadline']), zone)}"
                     + (f" ({duration(alert.due_at - datetime.fromisoformat(d['deadline']))} ago)" if d.get("occurrence") else ""))
    else:
        label = {rules.LONG_MISSING: "Threshold reached", rules.PERSISTENCE: "Threshold reached",
                 rules.HIGH_RISK: "Graded high", rules.RI_REMINDER: "Reminder due",
                 council_rules.COUNCIL_NOTIFY: "Since", council_rules.RI_CONFIRM: "Reminder due"}.get(alert.rule, "Due")
        lines.append(f"*{label}:* {local(alert.due_at, zone)}")
    notes = []
    button, done = (render_councils.done_words(alert) if alert.rule in council_rules.RULES
                    else ("Acknowledge", "Acknowledged by"))
    if alert.acknowledged_at is not None:
        notes.append(f":white_check_mark: {done} " + Person(alert.acknowledged_by)
                     + f" at {local(alert.acknowledged_at, zone)}")
    if alert.rule in (rules.RI_REMINDER, rules.RI_OVERDUE) and episode is not None and episode.ri_outcome:
        notes.append(f":memo: Return interview {outcome_word(episode.ri_outcome)} {local(episode.ri_at, zone)}")
    for m in held:  # the kind and time only: a meeting's note is never posted
        note = f":handshake: {held_meeting_word(m.kind).capitalize()} held {local(m.held_at, zone)}"
        notes.append(note + ", recorded by " + Person(m.recorded_by) if m.recorded_by else note)
    actions = []
    if alert.acknowledged_at is None:
        actions.append(Action(ACK, button, str(alert.id), style="primary"))
    if alert.rule in (rules.RI_REMINDER, rules.RI_OVERDUE) and (episode is None or episode.ri_outcome is None):
        actions.append(Action(RECORD_RI, "Record interview outcome", str(alert.id)))
    wants_strategy = alert.rule in (rules.LONG_MISSING, rules.HIGH_RISK) or (
        alert.rule == rules.PERSISTENCE and any("strategy" in str(c.get("action", "")).lower()
                                                for c in (d.get("actions") or [d])))
    wants_meeting = wants_strategy or alert.rule == rules.PERSISTENCE
    if wants_meeting and not held:
        actions.append(Action(STRATEGY_HELD, "Strategy meeting held" if wants_strategy else "Meeting held", str(alert.id)))
    return Message(headline=headline, text="\n".join(lines), notes=notes, actions=actions, ref=f"alert:{alert.id}",
                   visibility=visibility)
