"""`/missing health` and the alert buttons: Acknowledge, Record interview outcome, Strategy meeting held.

The interview and meeting buttons open forms: the outcome with who held it and what the child
said; the meeting's kind and the time it was actually held (not the time of the click).

Buttons carry the alert's id. Every change runs in one transaction with an audit record, then
every posted copy of the alert (team channel and the worker's DM) is updated in place with
chat.update, so the channel shows who acted and the buttons that are no longer needed go."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

from slack_sdk.errors import SlackApiError
from sqlalchemy import select

from bot.context import Ctx, Services
from bot.protocol import clock as rules
from bot.protocol import words
from bot.protocol.councils import COUNCIL_NOTIFY
from bot.protocol.rules import RuleError
from bot.render import duration, local, who
from bot.render_alerts import ACK, RECORD_RI, STRATEGY_HELD, render_alert
from handlers import modals
from handlers.registry import Reply, subcommand
from store import alerts, records
from store.audit import audit
from store.councils import notified_audit
from store.models import Child, Episode, Outbox

log = logging.getLogger(__name__)

RI_CALLBACK = "alert_ri_modal"
HELD_CALLBACK = "alert_held_modal"
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
    for channel, error, n in h.recent_failures:
        target = f"<@{channel}>" if channel[:1] in "UW" else f"<#{channel}>"
        lines.append(f":x: {n} failed to {target}: `{error}`")
    for error, n in h.unchecked:
        lines.append(f":warning: {n} message(s) {error.split(': ', 1)[0]} after an unknown outcome "
                     f"(`{error.split(': ', 1)[-1]}`): add the `channels:history`, `groups:history` and `im:history` "
                     "scopes so the bot can look before posting again.")
    return Reply("\n".join(lines))


# -- shared ----------------------------------------------------------------------------------
def _refresh(services: Services, alert_id: int, clicked: tuple[str, str] | None = None) -> None:
    """Update every posted copy of the alert in place: update rows in the outbox, delivered by the
    deliverer (never a Web API call inside the button's 3 seconds)."""
    with services.sessions.begin() as s:
        queued = alerts.queue_refresh(s, alert_id, services.now())
    if queued:
        services.on_enqueued()


def _clicked(body: dict) -> tuple[str, str] | None:
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    ts = (body.get("message") or {}).get("ts") or container.get("message_ts")
    return (channel, ts) if channel and ts else None


def _alert_id(body: dict) -> int | None:
    try:
        return int(body["actions"][0]["value"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def _ephemeral(services: Services, body: dict, user: str, text: str) -> None:
    where = _clicked(body)
    try:
        if where:
            services.client.chat_postEphemeral(channel=where[0], user=user, text=text)
        else:
            services.client.chat_postMessage(channel=user, text=text)
    except SlackApiError:
        pass


def ri_modal(alert: alerts.Alert, child: Child, episode: Episode, now: datetime, zone, protocol) -> dict:
    due = rules.ri_deadline(episode.returned_at, protocol)
    options = [{"text": {"type": "plain_text", "text": o.capitalize()}, "value": o}
               for o in ("completed", "declined", "voided")]
    return {
        "type": "modal", "callback_id": RI_CALLBACK, "private_metadata": json.dumps({"alert": alert.id}),
        "title": {"type": "plain_text", "text": "Return interview"},
        "submit": {"type": "plain_text", "text": "Record"}, "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "context", "elements": [{"type": "mrkdwn", "text":
             f"{who(child.child_ref, child.label)}: returned {local(episode.returned_at, zone)}, due by {local(due, zone)}"}]},
            {"type": "input", "block_id": "outcome", "label": {"type": "plain_text", "text": "Outcome"},
             "element": {"type": "static_select", "action_id": "value", "options": options,
                         "initial_option": options[0]}},
            {"type": "input", "block_id": "at", "label": {"type": "plain_text", "text": "When"},
             "element": {"type": "datetimepicker", "action_id": "value", "initial_date_time": int(now.timestamp())}},
            {"type": "input", "block_id": "by", "optional": True, "label": {"type": "plain_text", "text": "By (name or service)"},
             "element": {"type": "plain_text_input", "action_id": "value", "max_length": 100}},
            *modals.interview_blocks(protocol),
            *modals.practice_blocks(protocol, episode),
        ],
    }


def held_modal(alert: alerts.Alert, child: Child, now: datetime, zone) -> dict:
    asks = records.asks_for(alert)
    initial = "ipm" if asks == {"ipm"} else "strategy"
    options = [{"text": {"type": "plain_text", "text": words.HELD_MEETING_WORDS[k].capitalize()}, "value": k}
               for k in words.HELD_MEETING_KINDS]
    return {
        "type": "modal", "callback_id": HELD_CALLBACK, "private_metadata": json.dumps({"alert": alert.id}),
        "title": {"type": "plain_text", "text": "Meeting held"},
        "submit": {"type": "plain_text", "text": "Record"}, "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "context", "elements": [{"type": "mrkdwn", "text":
             f"{who(child.child_ref, child.label)}: alert of {local(alert.due_at, zone)}"}]},
            {"type": "input", "block_id": "kind", "label": {"type": "plain_text", "text": "Meeting"},
             "element": {"type": "static_select", "action_id": "value", "options": options,
                         "initial_option": options[words.HELD_MEETING_KINDS.index(initial)]}},
            {"type": "input", "block_id": "at", "label": {"type": "plain_text", "text": "When was it held?"},
             "element": {"type": "datetimepicker", "action_id": "value", "initial_date_time": int(now.timestamp())}},
            {"type": "input", "block_id": "note", "optional": True,
             "label": {"type": "plain_text", "text": "Note (who attended, decisions; private)"},
             "element": {"type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": 1000}},
        ],
    }


def _state(values: dict, block: str) -> dict:
    return (values.get(block) or {}).get("value") or {}


# -- Bolt listeners -------------------------------------------------------------------------
def _open_form(services: Services, client, body: dict, user: str, alert_id: int | None, view: dict,
               instead: str) -> None:
    """Open an alert's form; when Slack will not, tell the user the command that does the same."""
    try:
        client.views_open(trigger_id=body.get("trigger_id"), view=view)
    except SlackApiError as exc:
        log.warning("alert %s: views.open refused: %s", alert_id, exc.response.get("error"))
        _ephemeral(services, body, user, f":warning: Slack would not open the form. Use {instead}.")


def _form_alert_id(view: dict) -> int | None:
    """The alert an alert's form was opened from (its private metadata), or None."""
    try:
        return int(json.loads(view.get("private_metadata") or "{}")["alert"])
    except (KeyError, TypeError, ValueError):
        return None


def register_actions(app, services: Services) -> None:
    def _button(body: dict, change) -> None:
        """The preamble and ending the buttons share: the alert the button carries, one transaction
        with `change(session, alert, user, now)`, then every copy of the alert updated in place."""
        user, alert_id = body["user"]["id"], _alert_id(body)
        if alert_id is None:
            return
        now = services.now()
        with services.sessions.begin() as s:
            alert = s.get(alerts.Alert, alert_id)
            if alert is None:
                return
            change(s, alert, user, now)
        _refresh(services, alert_id, _clicked(body))

    def _acknowledge(s, alert, user, now) -> None:
        if alerts.acknowledge(s, alert.id, user, now):  # False when someone pressed first
            after = {"rule": alert.rule, "acknowledged_at": now.isoformat()}
            if alert.rule == COUNCIL_NOTIFY:  # who told whom and when
                after["notified"] = notified_audit(alert)
            audit(s, actor=user, action="council.notified" if alert.rule == COUNCIL_NOTIFY else "alert.acknowledge",
                  entity="alert", entity_id=alert.id, now=now, after=after)

    @app.action(ACK)
    def acknowledge(ack, body):
        ack()
        _button(body, _acknowledge)

    @app.action(STRATEGY_HELD)
    def strategy_held(ack, body, client):
        """Opens the form that asks when the meeting was held (and which kind, and a note)."""
        ack()
        user, alert_id = body["user"]["id"], _alert_id(body)
        with services.sessions() as s:
            alert = s.get(alerts.Alert, alert_id) if alert_id is not None else None
            child = s.get(Child, alert.child_id) if alert else None
            if child is None:
                return
            done = records.held_for_alert(s, alert.id)
            if done:
                m = done[0]
                _ephemeral(services, body, user, f":information_source: Already recorded: "
                                                 f"{words.HELD_MEETING_WORDS.get(m.kind, m.kind)} held "
                                                 f"{local(m.held_at, services.zone)} by <@{m.recorded_by}>.")
                view = None
            else:
                view = held_modal(alert, child, services.now(), services.zone)
        if view is None:
            _refresh(services, alert_id, _clicked(body))
            return
        _open_form(services, client, body, user, alert_id, view,
                   "`/missing held <child-ref> strategy|ipm|discussion at <when>`")

    @app.view(HELD_CALLBACK)
    def held_submitted(ack, body, view):
        user = body["user"]["id"]
        values = (view.get("state") or {}).get("values") or {}
        alert_id = _form_alert_id(view)
        if alert_id is None:
            ack()
            return
        kind = (_state(values, "kind").get("selected_option") or {}).get("value")
        stamp = _state(values, "at").get("selected_date_time")
        note = " ".join((_state(values, "note").get("value") or "").split())
        if kind not in words.HELD_MEETING_KINDS:
            ack(response_action="errors", errors={"kind": "Choose strategy meeting, IPM or strategy discussion."})
            return
        if stamp is None:
            ack(response_action="errors", errors={"at": "Give the date and time the meeting was held."})
            return
        if len(note) > 1000:
            ack(response_action="errors", errors={"note": "The note is too long (at most 1000 characters)."})
            return
        try:
            with services.sessions.begin() as s:
                alert = s.get(alerts.Alert, alert_id)
                child = s.get(Child, alert.child_id) if alert else None
                if child is None:
                    ack()
                    return
                done = records.held_for_alert(s, alert.id)
                if done:  # sent twice, or recorded by someone else while this form was open
                    ack(response_action="errors", errors={"at": (
                        f"Already recorded: {words.HELD_MEETING_WORDS.get(done[0].kind, done[0].kind)} held "
                        f"{local(done[0].held_at, services.zone)}. Use /missing held for another meeting.")[:150]})
                    return
                ctx = Ctx(services=services, session=s, user_id=user, channel_id="", now=services.now(),
                          is_admin=services.settings.is_admin(user))
                records.record_held(ctx, child, kind=kind, held_at=datetime.fromtimestamp(int(stamp), timezone.utc),
                                    note=note, alert=alert, example="the time the meeting was held, up to now")
        except RuleError as exc:
            ack(response_action="errors", errors={"at": exc.message[:150]})
            return
        ack()
        services.on_enqueued()
        _refresh(services, alert_id)

    @app.action(RECORD_RI)
    def record_ri(ack, body, client):
        ack()
        user, alert_id = body["user"]["id"], _alert_id(body)
        with services.sessions() as s:
            alert = s.get(alerts.Alert, alert_id) if alert_id is not None else None
            episode = s.get(Episode, alert.episode_id) if alert and alert.episode_id else None
            child = s.get(Child, alert.child_id) if alert else None
            if episode is None or child is None or episode.returned_at is None:
                return
            if episode.ri_outcome:
                _ephemeral(services, body, user, f":information_source: The return interview is already recorded as "
                                                 f"{episode.ri_outcome} ({local(episode.ri_at, services.zone)}).")
                return
            view = ri_modal(alert, child, episode, services.now(), services.zone, services.protocol)
        _open_form(services, client, body, user, alert_id, view,
                   "`/missing interview <child-ref> completed|declined|voided`")

    @app.view(RI_CALLBACK)
    def ri_submitted(ack, body, view):
        user = body["user"]["id"]
        values = (view.get("state") or {}).get("values") or {}
        alert_id = _form_alert_id(view)
        if alert_id is None:
            ack()
            return
        outcome = (_state(values, "outcome").get("selected_option") or {}).get("value")
        stamp = _state(values, "at").get("selected_date_time")
        by = (_state(values, "by").get("value") or "").strip()[:100]
        try:
            details = modals.interview_from(values, by)
            practice = modals.practice_from(values, services.protocol)
        except modals.FieldError as exc:
            ack(response_action="errors", errors=exc.errors)
            return
        if outcome not in ("completed", "declined", "voided"):
            ack(response_action="errors", errors={"outcome": "Choose completed, declined or voided."})
            return
        if stamp is None:
            ack(response_action="errors", errors={"at": "Give the date and time of the interview."})
            return
        try:
            with services.sessions.begin() as s:
                alert = s.get(alerts.Alert, alert_id)
                child = s.get(Child, alert.child_id) if alert else None
                if child is None:
                    ack()
                    return
                # The outcome of the episode this alert is about, even when the child has had a later one.
                episode = s.get(Episode, alert.episode_id) if alert.episode_id else None
                if episode is None:
                    ack()
                    return
                if episode.ri_outcome:  # recorded by someone else while this form was open
                    ack(response_action="errors", errors={"outcome": (
                        f"The return interview is already recorded as {episode.ri_outcome} "
                        f"({local(episode.ri_at, services.zone)}).")[:150]})
                    return
                ctx = Ctx(services=services, session=s, user_id=user, channel_id="", now=services.now(),
                          is_admin=services.settings.is_admin(user))
                records.record_interview(ctx, child, outcome=outcome, episode=episode,
                                         at=datetime.fromtimestamp(int(stamp), timezone.utc), by=by,
                                         details=details, practice=practice)
        except RuleError as exc:
            block = "offered" if "offered" in exc.message else "at"
            ack(response_action="errors", errors={block: exc.message[:150]})
            return
        ack()
        services.on_enqueued()
        _refresh(services, alert_id)
