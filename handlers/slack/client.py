"""The process's one Slack Web API client."""
from __future__ import annotations

from slack_sdk import WebClient

from bot.settings import Settings


def make_client(settings: Settings) -> WebClient:
    client = WebClient(token=settings.slack_bot_token or None, base_url=settings.slack_api_url, timeout=10)
    # Retries are the outbox's job (it knows what was sent); the client must not repeat posts.
    client.retry_handlers = []
    return client
