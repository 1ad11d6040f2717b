"""Delivery transports, one per platform, in an explicit registry (no import side effects).

`for_services(services)` gives the transports of this process; the deliverer picks one per row."""
from __future__ import annotations

from typing import TYPE_CHECKING

from bot.platforms import EMAIL, SLACK, TEAMS, TEAMS_WEBHOOK
from scheduler.transports.base import Delivered, NotPrivate, Transport, TransportError
from scheduler.transports.email import EmailTransport
from scheduler.transports.slack import SlackTransport

if TYPE_CHECKING:  # pragma: no cover
    from bot.context import Services

__all__ = ["EMAIL", "Delivered", "NotPrivate", "Transport", "TransportError", "for_services", "require_private"]


def for_services(services: "Services") -> dict[str, Transport]:
    """The transports of this process, by platform (built once per process and kept on `services`)."""
    if services.transports is not None:  # a backend that brings its own (the console: text for every platform)
        return services.transports
    built = getattr(services, "_transports", None)
    made_for = (services.client, services.settings.smtp_url)
    if built is None or built[0] != made_for:  # (tests swap the client; a process never does)
        registry: dict[str, Transport] = {
            SLACK: SlackTransport(services.client),
            EMAIL: EmailTransport(services.settings.smtp_url),
        }
        settings = services.settings
        if settings.teams_enabled:  # Teams (issue 11): the SDK is imported only where Teams is configured
            from scheduler.transports.teams import TeamsTransport, client_for

            registry[TEAMS] = TeamsTransport(client_for(settings), services.sessions, settings, services.now)
        if settings.teams_webhook_url:
            from scheduler.transports.teams_webhook import TeamsWebhookTransport

            registry[TEAMS_WEBHOOK] = TeamsWebhookTransport(settings.teams_webhook_url, open_url=settings.teams_open_url)
        built = (made_for, registry)
        services._transports = built
    return built[1]


def require_private(services: "Services", platform: str, address: str) -> None:
    """Details (agendas, board summaries) go only where only invited members read: ask the platform."""
    transport = for_services(services).get(platform)
    if transport is None:
        raise NotPrivate(f"no {platform} transport is configured")
    try:
        private = transport.is_private(address)
    except TransportError as exc:
        raise NotPrivate(f"could not be checked as private ({exc.code})") from None
    if not private:
        raise NotPrivate("is a public channel")
