"""Shared fixtures.

Every test that touches the database gets a fresh, migrated database: a SQLite file by
default, or, when TEST_DATABASE_URL is set (e.g. postgresql://postgres@127.0.0.1/test), a
new PostgreSQL database created for the test session and dropped after it."""
from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime, timezone

import pytest
from slack_sdk import WebClient
from sqlalchemy import create_engine, text

from bot.context import Services, build_services
from bot.settings import Settings
from tests.slack_stub import SlackStub
from store.db import upgrade

SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-test-token"
ALERT_CHANNEL = "C0ALERTS01"
DUTY_USER = "UDUTY00001"
ADMIN_USER = "UADMIN0001"
STRANGER = "USTRANGER1"


class Clock:
    """An injected clock that tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        self.now = now

    def advance(self, **delta) -> datetime:
        from datetime import timedelta

        self.now = self.now + timedelta(**delta)
        return self.now


@pytest.fixture(scope="session")
def pg_server_url():
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url:
        yield None
        return
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    yield url


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory, pg_server_url):
    """One database migrated to head per test session; each test gets a copy of it (a file copy on
    SQLite, CREATE DATABASE ... TEMPLATE on PostgreSQL), which costs far less than migrating."""
    if pg_server_url is None:
        path = tmp_path_factory.mktemp("template") / "template.sqlite3"
        upgrade(f"sqlite:///{path}")
        import sqlite3

        with sqlite3.connect(path) as conn:  # everything in the file itself, none left in a WAL beside it
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        yield path
        return
    name = f"mb_template_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    upgrade(f"{pg_server_url.rpartition('/')[0]}/{name}")
    yield name
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def db_url(tmp_path, pg_server_url, migrated_template):
    """A fresh, migrated, empty database for this test."""
    if pg_server_url is None:
        path = tmp_path / "test.sqlite3"
        shutil.copyfile(migrated_template, path)
        yield f"sqlite:///{path}"
        return
    name = f"mb_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"'))
    base, _, _ = pg_server_url.rpartition("/")
    url = f"{base}/{name}"
    yield url
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def slack_stub():
    stub = SlackStub().start()
    yield stub
    stub.stop()


@pytest.fixture
def clock():
    # A Thursday in November (GMT), mid-morning.
    return Clock(datetime(2026, 11, 19, 10, 0, tzinfo=timezone.utc))


def make_settings(db_url: str, stub: SlackStub, **extra) -> Settings:
    values = dict(
        database_url=db_url,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=stub.url,
        alert_channel=ALERT_CHANNEL,
        timezone="Europe/London",
        authorized_users=[DUTY_USER, ADMIN_USER],
        admin_users=[ADMIN_USER],
    )
    values.update(extra)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(db_url, slack_stub) -> Settings:
    return make_settings(db_url, slack_stub)


@pytest.fixture
def services(settings, slack_stub, clock) -> Services:
    client = WebClient(token=settings.slack_bot_token, base_url=slack_stub.url, timeout=5)
    client.retry_handlers = []
    svc = build_services(settings, migrate=False, client=client, clock=clock)
    yield svc
    svc.engine.dispose()


@pytest.fixture
def app(services):
    """The Bolt app as served, wired to the fake Slack Web API; posts are delivered at once."""
    from handlers.slack.app import build_app
    from scheduler.delivery import deliver_due

    services.on_enqueued = lambda: deliver_due(services)
    return build_app(services)


def files(row) -> list[dict]:
    """The files an outbox row carries (its neutral message's attachments), as {filename, content, title}."""
    from bot.messages import Message

    out = []
    for a in Message.from_json(row.message).attachments:
        text = a.content.decode("utf-8") if not a.media_type.startswith("image/") else a.content
        out.append({"filename": a.name, "content": text, "title": a.title, "media_type": a.media_type})
    return out
