"""Starting the Slack edge: the Bolt app (its token checked with auth.test) and Socket Mode's
first connection, with one clear line when Slack refuses a token or is out of reach."""
from __future__ import annotations

import logging
from urllib.error import URLError

from slack_bolt.error import BoltError
from slack_sdk.errors import SlackApiError

from bot.settings import SettingsError


def start_error(exc: BaseException, settings) -> SettingsError | None:
    """The one line for Slack refusing the tokens, or being out of reach, at start-up."""
    if isinstance(exc, SlackApiError):
        error = exc.response.get("error", "error") if exc.response is not None else "error"
        url = str(getattr(exc.response, "api_url", ""))
        name = "SLACK_APP_TOKEN" if "apps.connections.open" in url else "SLACK_BOT_TOKEN"
        return SettingsError(f"missing-bot: setting {name}: Slack refused it ({error})")
    if isinstance(exc, (URLError, OSError)):
        reason = getattr(exc, "reason", exc)
        return SettingsError(f"missing-bot: cannot reach Slack at {settings.slack_api_url} (SLACK_API_URL): {reason}")
    if isinstance(exc, BoltError):
        return SettingsError(f"missing-bot: setting SLACK_BOT_TOKEN: {exc}")
    return None


def start_app(services, *, verified_by_edge: bool = False):
    """`verified_by_edge`: served by `missing-bot serve`, behind the HTTP edge (bot/edge.py) that has
    checked every request's signature already (handlers/slack/app.py build_app)."""
    from handlers.slack.app import build_app

    sdk_log = logging.getLogger("slack_sdk.web.base_client")
    level = sdk_log.level
    sdk_log.setLevel(logging.CRITICAL)  # its own line about a refused connection would be a second one
    try:
        return build_app(services, verified_by_edge=verified_by_edge)  # checks the bot token with auth.test
    except Exception as exc:
        error = start_error(exc, services.settings)
        if error is None:
            raise
        raise error from None
    finally:
        sdk_log.setLevel(level)


def connect_socket_mode(app, settings):
    """Socket Mode's first connection: a refused app token stops start-up here."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    handler = SocketModeHandler(app, settings.slack_app_token)
    try:
        handler.connect()
    except Exception as exc:
        error = start_error(exc, settings)
        if error is None:
            raise
        raise error from None
    return handler
