"""`/missing health` and the alert buttons: Acknowledge, Record interview outcome, Strategy meeting held.

The interview and meeting buttons open forms: the outcome with who held it and what the child
said; the meeting's kind and the time it was actually held (not the time of the click).

Buttons carry the alert's id; each handler here takes (ctx, value) and returns a neutral reply
or form (handlers/commands.py routes them). Every change runs in one transaction with an audit
record and marks the alert changed, so every posted copy (team channel and the worker's DM) is
re-rendered: the channel shows who acted and the buttons that are no longer needed go."""
from __future__ import annotations

import json
import logging

from bot.context import Ctx
from bot.messages import Field, Form, Person, Place, join
from bot.platforms import is_user
from bot.protocol import clock as rules
from bot.protocol import words
from bot.protocol.councils import COUNCIL_NOTIFY
from bot.protocol.rules import RuleError
from bot.render import duration, local, who
from bot.render_alerts import ACK, RECORD_RI, STRATEGY_HELD
from handlers import modals
from handlers.registry import Reply, field_error, subcommand
from scheduler.delivery import NO_HISTORY
from store import alerts, records
from store.audit import audit
from store.councils import notified_audit
from store.models import Child, Episode

log = logging.getLogger(__name__)

RI_FORM = "alert_ri_modal"
HELD_FORM = "alert_held_modal"
RI_CALLBACK, HELD_CALLBACK = RI_FORM, HELD_FORM
# What to use when a platform cannot open an alert's form.
INSTEAD = {RI_FORM: "`/missing interview <child-ref> completed|declined|voided`",
           HELD_FORM: "`/missing held <child-ref> strategy|ipm|discussion at <when>`"}
STALE_SWEEP_MINUTES = 5


# -- /missing health -----------------------------------------------------------------------
@subcommand("health", usage="/missing health", admin=True, read_only=True,
            summary="(admins) when the clock last ran, pending and failed deliveries")
def health(ctx: Ctx, rest: str) -> Reply:
    h = alerts.health(ctx.session)
    z, now = ctx.zone, ctx.now
    lines = ["*missing-bot health*"]
    if h.last_sweep is None:
        lines.append(":warning: The clock has never run. Start `missing-bot run` or `serve`, or run "
                     "`missing-bot tick` every minute from cron.")
    else:
        ago = now - h.last_sweep.at
        flag = ":warning: " if ago.total_seconds() > STALE_SWEEP_MINUTES * 60 else ":white_check_mark: "
        lines.append(f"{flag}Last sweep: {local(h.last_sweep.at, z)} ({duration(ago)} ago): "
                     f"{h.last_sweep.enqueued} alert(s) due, {h.last_sweep.delivered} message(s) delivered"
                     + (f"; errors: `{h.last_sweep.error}`" if h.last_sweep.error else ""))
    lines.append(f"Deliveries: {h.pending} pending, {h.sending} in flight, {h.failed} failed")
    if h.oldest_undelivered is not None:
        lines.append(f"Oldest undelivered: since {local(h.oldest_undelivered, z)} ({duration(now - h.oldest_undelivered)})")
    else:
        lines.append("Oldest undelivered: none, everything is delivered")
    for platform, address, error, n in h.recent_failures:
        lines.append(f":x: {n} failed to " + _target(platform, address) + f": `{error}`")
    for error, n in h.unchecked:
        why = error.split(": ", 1)[-1]
        if why == NO_HISTORY:
            advice = ("Teams keeps no message history the bot can read, so after a timeout it posts again "
                      "(at most that one message twice); files are the same on every platform.")
        else:
            advice = ("add the `channels:history`, `groups:history` and `im:history` scopes so the bot can look "
                      "before posting again.")
        lines.append(f":warning: {n} message(s) {error.split(': ', 1)[0]} after an unknown outcome (`{why}`): {advice}")
    return Reply(join(lines))


def _target(platform: str, address: str):
    """Where a failed message was going, as an admin can recognise it."""
    if platform == "email":
        return "email"
    if platform == "teams_webhook":
        return "the Teams webhook (TEAMS_WEBHOOK_URL)"
    if platform == "teams":
        if is_user(address):
            return "Teams user " + Person(address)
        return f"a Teams conversation (`…{address[-12:]}`; see `alerts here`)"
    return Person(address) if is_user(address) else Place(address)


# -- shared ----------------------------------------------------------------------------------
def changed(ctx: Ctx, alert_id: int) -> None:
    """The alert changed: every posted copy is re-rendered as it is now, by update rows in the
    outbox written in this transaction (delivered after the answer, never inside it)."""
    alerts.queue_refresh(ctx.session, alert_id, ctx.now)


def _alert(ctx: Ctx, value) -> alerts.Alert | None:
    try:
        return ctx.session.get(alerts.Alert, int(value))
    except (TypeError, ValueError):
        return None


def _form_alert_id(meta: str) -> int | None:
    """The alert an alert's form was opened from (its metadata), or None."""
    try:
        return int(json.loads(meta or "{}")["alert"])
    except (KeyError, TypeError, ValueError):
        return None


def ri_form(alert: alerts.Alert, child: Child, episode: Episode, now, zone, protocol) -> Form:
    due = rules.ri_deadline(episode.returned_at, protocol)
    return Form(RI_FORM, "Return interview", [
        Field("about", "note", f"{who(child.child_ref, child.label)}: returned {local(episode.returned_at, zone)}, "
                               f"due by {local(due, zone)}"),
        Field("outcome", "choice", "Outcome", [(o, o.capitalize()) for o in ("completed", "declined", "voided")],
              required=True, initial="completed"),
        Field("at", "datetime", "When", required=True, initial=now),
        Field("by", "text", "By (name or service)", max_length=100),
        *modals.interview_fields(protocol),
        *modals.practice_fields(protocol, episode),
    ], submit="Record", meta=json.dumps({"alert": alert.id}))


def held_form(alert: alerts.Alert, child: Child, now, zone) -> Form:
    asks = records.asks_for(alert)
    initial = "ipm" if asks == {"ipm"} else "strategy"
    return Form(HELD_FORM, "Meeting held", [
        Field("about", "note", f"{who(child.child_ref, child.label)}: alert of {local(alert.due_at, zone)}"),
        Field("kind", "choice", "Meeting", [(k, words.HELD_MEETING_WORDS[k].capitalize()) for k in words.HELD_MEETING_KINDS],
              required=True, initial=initial),
        Field("at", "datetime", "When was it held?", required=True, initial=now),
        Field("note", "multiline", "Note (who attended, decisions; private)", max_length=1000),
    ], submit="Record", meta=json.dumps({"alert": alert.id}))


# -- the buttons: (ctx, value) -> reply, form or None -------------------------------------------
def acknowledge(ctx: Ctx, value: str) -> None:
    alert = _alert(ctx, value)
    if alert is None:
        return None
    if alerts.acknowledge(ctx.session, alert.id, ctx.user_id, ctx.now):  # False when someone pressed first
        after = {"rule": alert.rule, "acknowledged_at": ctx.now.isoformat()}
        if alert.rule == COUNCIL_NOTIFY:  # who told whom and when
            after["notified"] = notified_audit(alert)
        audit(ctx.session, actor=ctx.user_id,
              action="council.notified" if alert.rule == COUNCIL_NOTIFY else "alert.acknowledge",
              entity="alert", entity_id=alert.id, now=ctx.now, after=after)
    changed(ctx, alert.id)
    return None


def strategy_held(ctx: Ctx, value: str) -> Reply | Form | None:
    """Opens the form that asks when the meeting was held (and which kind, and a note)."""
    alert = _alert(ctx, value)
    child = ctx.session.get(Child, alert.child_id) if alert else None
    if child is None:
        return None
    done = alerts.held_for_alert(ctx.session, alert.id)
    if done:
        m = done[0]
        changed(ctx, alert.id)
        return Reply(f":information_source: Already recorded: {words.HELD_MEETING_WORDS.get(m.kind, m.kind)} held "
                     f"{local(m.held_at, ctx.zone)} by " + Person(m.recorded_by) + ".")
    return held_form(alert, child, ctx.now, ctx.zone)


def record_ri(ctx: Ctx, value: str) -> Reply | Form | None:
    alert = _alert(ctx, value)
    episode = ctx.session.get(Episode, alert.episode_id) if alert and alert.episode_id else None
    child = ctx.session.get(Child, alert.child_id) if alert else None
    if episode is None or child is None or episode.returned_at is None:
        return None
    if episode.ri_outcome:
        return Reply(f":information_source: The return interview is already recorded as "
                     f"{episode.ri_outcome} ({local(episode.ri_at, ctx.zone)}).")
    return ri_form(alert, child, episode, ctx.now, ctx.zone, ctx.protocol)


# -- the forms: (ctx, values, meta) -> reply or None; problems as field errors ----------------
def held_submitted(ctx: Ctx, values: dict, meta: str) -> None:
    alert = ctx.session.get(alerts.Alert, _form_alert_id(meta) or 0)
    kind = values.get("kind")
    held_at = values.get("at")
    note = " ".join((values.get("note") or "").split())
    if kind not in words.HELD_MEETING_KINDS:
        raise field_error("kind", "Choose strategy meeting, IPM or strategy discussion.")
    if held_at is None:
        raise field_error("at", "Give the date and time the meeting was held.")
    if len(note) > 1000:
        raise field_error("note", "The note is too long (at most 1000 characters).")
    child = ctx.session.get(Child, alert.child_id) if alert else None
    if child is None:
        return None
    done = alerts.held_for_alert(ctx.session, alert.id)
    if done:  # sent twice, or recorded by someone else while this form was open
        raise field_error("at", (f"Already recorded: {words.HELD_MEETING_WORDS.get(done[0].kind, done[0].kind)} held "
                                 f"{local(done[0].held_at, ctx.zone)}. Use /missing held for another meeting.")[:150])
    try:
        records.record_held(ctx, child, kind=kind, held_at=held_at, note=note, alert=alert,
                            example="the time the meeting was held, up to now")
    except RuleError as exc:
        raise field_error("at", exc.message[:150]) from None
    changed(ctx, alert.id)
    return None


def ri_submitted(ctx: Ctx, values: dict, meta: str) -> None:
    alert = ctx.session.get(alerts.Alert, _form_alert_id(meta) or 0)
    outcome = values.get("outcome")
    at = values.get("at")
    by = (values.get("by") or "").strip()[:100]
    details = modals.interview_from(values, by)
    practice = modals.practice_from(values, ctx.protocol)
    if outcome not in ("completed", "declined", "voided"):
        raise field_error("outcome", "Choose completed, declined or voided.")
    if at is None:
        raise field_error("at", "Give the date and time of the interview.")
    child = ctx.session.get(Child, alert.child_id) if alert else None
    # The outcome of the episode this alert is about, even when the child has had a later one.
    episode = ctx.session.get(Episode, alert.episode_id) if child is not None and alert.episode_id else None
    if episode is None:
        return None
    if episode.ri_outcome:  # recorded by someone else while this form was open
        raise field_error("outcome", (f"The return interview is already recorded as {episode.ri_outcome} "
                                      f"({local(episode.ri_at, ctx.zone)}).")[:150])
    try:
        records.record_interview(ctx, child, outcome=outcome, episode=episode, at=at, by=by,
                                 details=details, practice=practice)
    except RuleError as exc:
        raise field_error("offered" if "offered" in exc.message else "at", exc.message[:150]) from None
    changed(ctx, alert.id)
    return None
