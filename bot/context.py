"""What every entry point builds once (`Services`) and what every handler call gets (`Ctx`)."""
from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.protocol.config import Protocol, load_protocol
from bot.settings import Settings
from store.db import at_head, make_engine, make_sessionmaker, upgrade


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# Set by an HTTP edge (bot/serve.py) around one request: a change that queued messages wakes the
# deliverer once the answer has gone (the delivery then never competes with the answer for the
# interpreter or the database), instead of while the answer is still being written.
WAKE_AFTER_ANSWER: ContextVar[list | None] = ContextVar("missing_wake_after_answer", default=None)


def wake_deliverer(services: "Services") -> None:
    """After a transaction that queued messages commits: wake the deliverer now, or, inside a
    request whose edge answers first (WAKE_AFTER_ANSWER), as soon as the answer has gone."""
    pending = WAKE_AFTER_ANSWER.get()
    if pending is None:
        services.on_enqueued()
    else:
        pending.append(True)


@dataclass
class Services:
    settings: Settings
    protocol: Protocol
    engine: Engine
    sessions: sessionmaker[Session]
    # The Slack Web API client (handlers/slack/client.py), or None where Slack is not configured.
    client: object | None
    clock: Callable[[], datetime] = utcnow
    # Sessions for commands that only read (store/db.py: no write lock, no transaction round trips).
    reads: sessionmaker[Session] | None = None
    # Called after a transaction that enqueued messages commits; entry points set it to
    # deliver now (console, tests) or to wake a background deliverer (serve, run).
    on_enqueued: Callable[[], None] = lambda: None
    # Set by handlers.slack.app.build_app: who may use the bot (bot.auth.Authorizer); None outside Slack.
    authorizer: object | None = None
    # The delivery transports by platform (scheduler/transports.for_services builds them once), or
    # `transports`: those a backend brings (the console delivers every platform's messages as text).
    _transports: tuple | None = None
    transports: dict | None = None
    worker_id: str = field(default_factory=lambda: __import__("socket").gethostname() + f":{__import__('os').getpid()}")

    def __post_init__(self) -> None:
        if self.reads is None:
            self.reads = make_sessionmaker(self.engine, read_only=True)

    @property
    def zone(self) -> ZoneInfo:
        return self.settings.zone

    def now(self) -> datetime:
        return self.clock()


def build_services(settings: Settings, *, migrate: bool | None = None, client: object | None = None,
                   clock: Callable[[], datetime] | None = None) -> Services:
    """Engine, sessions, protocol and Slack client from settings.

    Migrations run automatically on SQLite (the embedded default); on PostgreSQL run
    `missing-bot db upgrade` as a release step (see README)."""
    protocol = load_protocol(settings.protocol_file)
    if migrate is None:
        migrate = settings.database_url.startswith("sqlite")
    engine = make_engine(settings.database_url)
    if migrate and not at_head(engine):
        upgrade(settings.database_url)
    if client is None and (settings.slack_bot_token or settings.slack_app_token):
        from handlers.slack.client import make_client

        client = make_client(settings)
    return Services(settings=settings, protocol=protocol, engine=engine, sessions=make_sessionmaker(engine),
                    client=client, clock=clock or utcnow)


@dataclass
class Ctx:
    """One command's context: an open transaction, the actor and the instant."""

    services: Services
    session: Session
    user_id: str
    channel_id: str
    now: datetime
    is_admin: bool = False
    trigger_id: str | None = None

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def protocol(self) -> Protocol:
        return self.services.protocol

    @property
    def zone(self) -> ZoneInfo:
        return self.services.zone
