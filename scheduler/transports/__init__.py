"""Delivery transports, one per platform, in an explicit registry (no import side effects).

`for_services(services)` gives the transports of this process; the deliverer picks one per row."""
from __future__ import annotations

from typing import TYPE_CHECKING

from scheduler.transports.base import Delivered, Transport, TransportError
from scheduler.transports.email import EMAIL, EmailTransport
from scheduler.transports.slack import SlackTransport
from store.models import Outbox

if TYPE_CHECKING:  # pragma: no cover
    from bot.context import Services

__all__ = ["EMAIL", "Delivered", "Transport", "TransportError", "for_services", "platform_of"]


def for_services(services: "Services") -> dict[str, Transport]:
    return {
        "slack": SlackTransport(services.client),
        "email": EmailTransport(services.settings.smtp_url),
    }


def platform_of(row: Outbox) -> str:
    """Which transport delivers a row (the outbox will store it per row with Teams)."""
    return "email" if row.channel == EMAIL or (row.payload or {}).get("email") else "slack"
