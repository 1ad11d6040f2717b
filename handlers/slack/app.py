"""The Slack edge: the Bolt app that maps `/missing`, the buttons and the forms onto the neutral
router (handlers/commands.py) and renders what comes back (handlers/slack/render.py, forms.py).

Built with `process_before_response=True`: each listener does its database work and answers in
the HTTP response itself, which serves far more requests per thread than Bolt's default runner.
Acknowledge first: nothing inside Slack's 3-second window waits on the Slack Web API. A button or
a form is saved, then acknowledged; opening a form (views.open), a private answer
(chat.postEphemeral) run after the answer (posted alert copies are updated by the deliverer, from
outbox rows the change wrote), on the app's
follow-up threads (`app.follow_ups`; tests wait for them with `settle()`)."""
from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.logger import get_bolt_app_logger
from slack_sdk.errors import SlackApiError

from bot.auth import REFUSAL
from bot.context import Services
from bot.messages import Form, Message
from handlers import commands, imports, modals
from handlers.errors import log_failure
from handlers.slack import files
from handlers.slack.auth import SlackAuthorizer
from handlers.slack.forms import errors_of, notice_view, values_of, view_of
from handlers.slack.render import render
from handlers.slack.text import from_slack

log = logging.getLogger(__name__)
OTHER_WORKSPACE = ":no_entry: missing-bot serves only the workspace it is installed in."
FORM_REFUSED = (":warning: Slack would not open the form (it allows 3 seconds). "
                "Run the command again, or give the details inline: `/missing help`.")


def ephemeral(msg: Message | str) -> dict:
    text, blocks = render(msg if isinstance(msg, Message) else Message(msg))
    body: dict = {"response_type": "ephemeral", "text": text}
    if blocks:
        body["blocks"] = blocks
    return body


class FollowUps(ThreadPoolExecutor):
    """The work that runs after Slack has its answer; `settle()` waits for what is pending."""

    def __init__(self, workers: int = 4) -> None:
        super().__init__(max_workers=workers, thread_name_prefix="slack-follow-up")
        self._pending: set[Future] = set()
        self._lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        def run():
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - the answer has gone; log the type and place only
                log_failure("slack follow-up", exc)

        future = super().submit(run)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)

    def settle(self, timeout: float = 30.0) -> None:
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return
            wait(pending, timeout=timeout)


class OneClientApp(App):
    """Bolt (since 1.15) builds a new WebClient for every request, in case a listener swaps its
    token; this bot never does (one workspace, one token), so every request shares the process's
    one client (`services.client`), which is thread-safe for calls."""

    def _init_context(self, req: BoltRequest) -> None:
        req.context["logger"] = get_bolt_app_logger(app_name=self.name, base_logger=self._base_logger)
        req.context["token"] = self._token
        req.context["client"] = self._client
        req.context["listener_runner"] = self.listener_runner


# -- after the answer ---------------------------------------------------------------------------
def _clicked(body: dict) -> tuple[str, str] | None:
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    ts = (body.get("message") or {}).get("ts") or container.get("message_ts")
    return (channel, ts) if channel and ts else None


def tell(services: Services, user: str, channel: str | None, msg: Message | str) -> None:
    """A private answer: ephemeral in `channel`, else (not a member there, or no channel) by DM."""
    text, blocks = render(msg if isinstance(msg, Message) else Message(msg))
    if channel:
        try:
            services.client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks)
            return
        except SlackApiError:
            pass  # not in that channel (e.g. a DM with someone else): tell the user directly
    try:
        services.client.chat_postMessage(channel=user, text=text, blocks=blocks)
    except SlackApiError as exc:
        log.warning("a private answer was not sent: %s", exc.response.get("error"))


def open_form(services: Services, trigger_id: str | None, form: Form, user: str, channel: str | None,
              instead: str) -> None:
    try:
        services.client.views_open(trigger_id=trigger_id, view=view_of(form))
    except SlackApiError as exc:
        log.warning("views.open refused: %s", exc.response.get("error"))
        tell(services, user, channel, instead)


# -- the app ------------------------------------------------------------------------------------
def build_app(services: Services, *, token_verification: bool = True, verified_by_edge: bool = False) -> App:
    """`verified_by_edge=True` only for an app served behind `bot.serve.create_web_app`, whose edge
    (bot/edge.py) has checked the signature, its age and replays before Bolt sees the request:
    Bolt's own signature check is then the same HMAC a second time, so it is left out. Socket Mode
    needs no signature (Bolt skips it there anyway); every other way in keeps Bolt's check."""
    settings = services.settings
    follow_ups = FollowUps()
    app = OneClientApp(
        signing_secret=settings.slack_signing_secret,
        client=services.client,
        process_before_response=True,
        token_verification_enabled=token_verification and bool(settings.slack_bot_token),
        raise_error_for_unhandled_request=False,
        request_verification_enabled=not verified_by_edge,
    )
    authorizer = SlackAuthorizer(services)
    app._missing_authorizer = authorizer  # for tests and the console
    app.follow_ups = follow_ups
    app.settle = follow_ups.settle
    services.authorizer = authorizer

    @app.middleware
    def only_our_workspace_and_authorised(body, context, next):  # noqa: A002 - Bolt's parameter name
        # One middleware, not two: Bolt builds each one's arguments on every request.
        if body.get("type") in ("url_verification",) or body.get("ssl_check"):
            return next()
        if not authorizer.allowed_team(context.team_id, context.enterprise_id):
            log.warning("refused a request from another workspace (%s)", (body.get("type") or "command")[:40])
            if body.get("command"):
                return BoltResponse(status=200, body=json.dumps(ephemeral(OTHER_WORKSPACE)),
                                    headers={"content-type": "application/json"})
            return BoltResponse(status=403, body="")
        user = context.user_id
        if user is None or authorizer.allowed(user):
            return next()
        log.info("refused an unauthorised request (%s)", body.get("type") or "command")
        if body.get("command"):
            return BoltResponse(status=200, body=json.dumps(ephemeral(REFUSAL)),
                                headers={"content-type": "application/json"})
        if body.get("type") == "block_actions" and (body.get("channel") or {}).get("id"):
            follow_ups.submit(tell, services, user, body["channel"]["id"], REFUSAL)
        return BoltResponse(status=200, body="")

    @app.command("/missing")
    def missing(ack, body):
        user = body.get("user_id", "")
        channel = body.get("channel_id", "")
        reply = commands.run_command(services, user_id=user, channel_id=channel, text=from_slack(body.get("text", "")),
                                     is_admin=authorizer.is_admin(user), trigger_id=body.get("trigger_id"))
        ack(ephemeral(reply))
        if reply.form is not None:
            follow_ups.submit(open_form, services, body.get("trigger_id"), reply.form, user, channel, FORM_REFUSED)

    def button(ack, body):
        user = body["user"]["id"]
        action = (body.get("actions") or [{}])[0]
        clicked = _clicked(body)
        outcome = commands.press(services, action_id=action.get("action_id", ""), value=str(action.get("value") or ""),
                                 user_id=user, channel_id=clicked[0] if clicked else "",
                                 is_admin=authorizer.is_admin(user))
        ack()
        follow_ups.submit(after_button, body.get("trigger_id"), user, clicked, outcome)

    def after_button(trigger_id, user, clicked, outcome: commands.Outcome) -> None:
        # Posted copies of a changed alert are updated by the deliverer (outbox update rows).
        channel = clicked[0] if clicked else None
        if outcome.form is not None:
            instead = commands.FORM_INSTEAD.get(outcome.form.id, "the command")
            open_form(services, trigger_id, outcome.form, user, channel,
                      f":warning: Slack would not open the form. Use {instead}.")
        elif outcome.reply is not None:
            tell(services, user, channel, outcome.reply)

    for action_id in commands.ACTIONS:
        app.action(action_id)(button)

    def form_submitted(ack, body, view):
        user = body["user"]["id"]
        meta = view.get("private_metadata", "")
        outcome = commands.submit_form(services, form_id=view.get("callback_id", ""),
                                       values=values_of((view.get("state") or {}).get("values") or {}),
                                       meta=meta, user_id=user, is_admin=authorizer.is_admin(user))
        if outcome.errors:
            ack(response_action="errors", errors=errors_of(outcome.errors))
            return
        ack()
        if outcome.reply is not None:
            follow_ups.submit(tell, services, user, modals.meta_channel(meta), outcome.reply)

    for form_id in commands.FORMS:
        app.view(form_id)(form_submitted)

    @app.view(imports.IMPORT_FORM)
    def import_submitted(ack, body, view):
        """Acknowledged at once (the form says the result comes by DM); the import runs after."""
        user = body["user"]["id"]
        values = values_of((view.get("state") or {}).get("values") or {})
        errors = imports.check_submission(authorizer.is_admin(user), values)
        if errors:
            ack(response_action="errors", errors=errors_of(errors))
            return
        ack(response_action="update", view=notice_view("Import history", imports.IMPORTING))
        file_id = values[imports.BLOCK][0]["id"]
        follow_ups.submit(imports.run_import, services, user, file_id, lambda f: files.fetch(services, f))

    return app
