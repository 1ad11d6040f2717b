"""A user's direct-message conversation with the bot (conversations.open): where files for one
person go (an upload needs a conversation, not a user id)."""
from __future__ import annotations

from slack_sdk.errors import SlackApiError


class NoDirectMessage(Exception):
    """Slack would not open the conversation; the message is Slack's error code."""


def open_dm(client, user_id: str) -> str | None:
    try:
        return (client.conversations_open(users=user_id).get("channel") or {}).get("id")
    except SlackApiError as exc:
        raise NoDirectMessage(str(exc.response.get("error"))) from None
