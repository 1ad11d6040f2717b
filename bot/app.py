"""The Bolt app: one `/missing` command, the forms, the alert buttons.

Built with `process_before_response=True`: each listener does its (fast) work and the reply
travels back in the HTTP response itself, which serves far more requests per thread than
Bolt's default runner and keeps inside Slack's 3-second window."""
from __future__ import annotations

import json
import logging

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.logger import get_bolt_app_logger
from slack_sdk.errors import SlackApiError

from bot.auth import REFUSAL, Authorizer
from bot.messages import Message
from handlers.slack.render import mrkdwn, render
from handlers.slack.text import from_slack
from bot.context import Services
from handlers import clock, imports, meetings, modals
from handlers.commands import log_failure, run_command

log = logging.getLogger(__name__)
OTHER_WORKSPACE = ":no_entry: missing-bot serves only the workspace it is installed in."

def ephemeral(text: str, blocks: list | None = None) -> dict:
    body: dict = {"response_type": "ephemeral", "text": text}
    if blocks:
        body["blocks"] = blocks
    return body


class OneClientApp(App):
    """Bolt (since 1.15) builds a new WebClient for every request, in case a listener swaps its
    token; this bot never does (one workspace, one token), so every request shares the process's
    one client (`services.client`), which is thread-safe for calls."""

    def _init_context(self, req: BoltRequest) -> None:
        req.context["logger"] = get_bolt_app_logger(app_name=self.name, base_logger=self._base_logger)
        req.context["token"] = self._token
        req.context["client"] = self._client
        req.context["listener_runner"] = self.listener_runner


def build_app(services: Services, *, token_verification: bool = True) -> App:
    settings = services.settings
    app = OneClientApp(
        signing_secret=settings.slack_signing_secret,
        client=services.client,
        process_before_response=True,
        token_verification_enabled=token_verification and bool(settings.slack_bot_token),
        raise_error_for_unhandled_request=False,
    )
    authorizer = Authorizer(services)
    app._missing_authorizer = authorizer  # for tests and the console
    services.authorizer = authorizer

    @app.middleware
    def only_our_workspace(body, context, next):  # noqa: A002 - Bolt's parameter name
        if body.get("type") in ("url_verification",) or body.get("ssl_check"):
            return next()
        if authorizer.allowed_team(context.team_id, context.enterprise_id):
            return next()
        log.warning("refused a request from another workspace (%s)", (body.get("type") or "command")[:40])
        if body.get("command"):
            return BoltResponse(status=200, body=json.dumps(ephemeral(OTHER_WORKSPACE)),
                                headers={"content-type": "application/json"})
        return BoltResponse(status=403, body="")

    @app.middleware
    def only_authorised(body, context, next):  # noqa: A002 - Bolt's parameter name
        user = context.user_id
        if user is None or authorizer.allowed(user):
            return next()
        log.info("refused an unauthorised request (%s)", body.get("type") or "command")
        if body.get("command"):
            return BoltResponse(status=200, body=json.dumps(ephemeral(REFUSAL)),
                                headers={"content-type": "application/json"})
        if body.get("type") == "block_actions" and (body.get("channel") or {}).get("id"):
            try:
                services.client.chat_postEphemeral(channel=body["channel"]["id"], user=user, text=REFUSAL)
            except SlackApiError:
                pass
        return BoltResponse(status=200, body="")

    @app.command("/missing")
    def missing(ack, body, client):
        user = body.get("user_id", "")
        reply = run_command(services, user_id=user, channel_id=body.get("channel_id", ""),
                            text=from_slack(body.get("text", "")), is_admin=authorizer.is_admin(user),
                            trigger_id=body.get("trigger_id"))
        if isinstance(reply, Message):
            ack(ephemeral(*render(reply)))
            return
        if reply.modal is not None:
            try:
                client.views_open(trigger_id=body.get("trigger_id"), view=reply.modal)
            except SlackApiError as exc:
                log_failure("views.open", exc)
                ack(ephemeral(":warning: Slack would not open the form (it allows 3 seconds). "
                              "Run the command again, or give the details inline: `/missing help`."))
                return
        ack(ephemeral(reply.text if isinstance(reply.text, str) else mrkdwn(reply.text), reply.blocks))

    @app.view(modals.REPORT_CALLBACK)
    @app.view(modals.CHILD_CALLBACK)
    def form_submitted(ack, body, client, view):
        user = body["user"]["id"]
        errors, text, channel = modals.handle_submission(
            services, user_id=user, is_admin=authorizer.is_admin(user), callback_id=view.get("callback_id", ""),
            metadata=view.get("private_metadata", ""), state=(view.get("state") or {}).get("values") or {})
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        if text and channel:
            try:
                client.chat_postEphemeral(channel=channel, user=user, text=text)
            except SlackApiError:
                # Not in that channel (e.g. a DM with someone else): tell the user directly.
                try:
                    client.chat_postMessage(channel=user, text=text)
                except SlackApiError as exc:
                    log_failure("form confirmation", exc)

    clock.register_actions(app, services)  # alert buttons and the interview form
    meetings.register_actions(app, services)  # the meeting setup form
    imports.register_actions(app, services)  # the history import form (admins)
    return app
