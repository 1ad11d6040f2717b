"""Teams alert-only mode: a Workflows "When a Teams webhook request is received" URL (TEAMS_WEBHOOK_URL).

For councils that cannot register a bot. Each row is one POST of {"type": "message", "attachments":
[an Adaptive Card 1.4]} within Teams' 28 KB (handlers/teams/cards.py `webhook_payload`): no buttons
(nothing can reach the bot), an "Open in Teams" link instead; no threads and no updates (a
webhook answers nothing to refer to). Workflows answers 202 Accepted.

Errors: 429 (Retry-After honoured), 408 and 5xx are transient; any other 4xx is permanent (a deleted
or disabled flow, a changed URL): the row is marked failed and `/missing health` shows it; a 5xx
(the flow may have run before it failed) or a timeout after the request went out is an unknown
outcome, and, with nothing to look in, the deliverer's bound applies (at most the one message
repeated, counted by `/missing health` as sent without checking)."""
from __future__ import annotations

import httpx

from bot.messages import Message
from handlers.teams import cards
from scheduler.transports.base import Delivered, TransportError
from store.models import Outbox

ADDRESS = "webhook"  # the outbox address of webhook rows: there is one webhook per installation


class TeamsWebhookTransport:
    name = "teams_webhook"

    def __init__(self, url: str, *, open_url: str | None = None, timeout: float = 10.0) -> None:
        self.url, self.open_url, self.timeout = url, open_url, timeout

    def send(self, row: Outbox, message: Message, thread_ref: str | None, broadcast: bool) -> Delivered:
        payload = cards.webhook_payload(message, open_url=self.open_url)
        try:
            resp = httpx.post(self.url, json=payload, timeout=self.timeout)
        except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError) as exc:
            raise TransportError(f"no answer ({type(exc).__name__})", unknown=True) from exc
        except httpx.TransportError as exc:
            raise TransportError(f"not reached ({type(exc).__name__})") from exc
        if resp.status_code < 300:
            return Delivered(ADDRESS, None)
        if resp.status_code == 429:
            wait = resp.headers.get("Retry-After", "")
            raise TransportError("throttled", retry_after=float(wait) if wait.isdigit() else 30)
        if resp.status_code >= 500:  # the flow may have run before the error: at most this one repeats
            raise TransportError(f"http_{resp.status_code}", unknown=True)
        if resp.status_code == 408:  # the request was not read whole: nothing was posted
            raise TransportError("http_408")
        raise TransportError(f"webhook refused: http_{resp.status_code}", permanent=True)

    def can_find(self, row: Outbox) -> bool:
        return False

    def find_sent(self, row: Outbox, thread_ref: str | None) -> Delivered | None:
        return None

    def update(self, address: str, ref: str, message: Message) -> None:
        raise TransportError("a webhook post cannot be updated", permanent=True)

    def is_private(self, address: str) -> bool:
        return False  # a channel, whoever is in it
