"""Teams alert-only mode: TEAMS_WEBHOOK_URL (a Workflows webhook), no bot registration. Rows go through
the real deliverer and the webhook transport to a fake webhook on 127.0.0.1: Adaptive Card 1.4
payloads within 28 KB, exactly once, 4xx permanent (and shown in /missing health), 429/5xx retried."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.platforms import TEAMS_WEBHOOK
from handlers.commands import run_command
from handlers.teams import cards
from scheduler import transports
from scheduler.delivery import deliver_due
from store.models import Outbox
from store.outbox import UNCHECKED, enqueue
from tests.conftest import ADMIN_USER, make_settings
from tests.teams.schemas import validate
from tests.teams.webhook import FakeWebhook


@pytest.fixture
def webhook():
    hook = FakeWebhook().start()
    yield hook
    hook.stop()


@pytest.fixture
def settings(db_url, slack_stub, webhook):
    return make_settings(db_url, slack_stub, teams_webhook_url=webhook.url,
                         teams_open_url="https://teams.microsoft.com/l/channel/19%3Afake/Alerts")


def queue(services, clock, key, text, sections: int = 0):
    with services.sessions.begin() as s:
        enqueue(s, key=key, kind="alert.long_missing", channel="webhook", platform=TEAMS_WEBHOOK,
                text=text + ("\nx" * sections), now=clock())


def rows(services):
    with services.sessions() as s:
        return list(s.scalars(select(Outbox).order_by(Outbox.id)))


def test_registry_has_the_webhook_and_no_bot(services):
    assert set(transports.for_services(services)) == {"slack", "email", "teams_webhook"}


def test_alert_posted_once_as_a_1_4_card_with_an_open_in_teams_link(services, webhook, clock):
    queue(services, clock, "a1", ":rotating_light: C1234 (Case A) missing for 24 hours")
    assert deliver_due(services) == 1
    assert deliver_due(services) == 0
    [payload] = webhook.posts
    [att] = payload["attachments"]
    assert payload["type"] == "message" and att["contentType"] == "application/vnd.microsoft.card.adaptive"
    validate(att["content"], "1.4")
    assert att["content"]["actions"] == [{"type": "Action.OpenUrl", "title": "Open in Teams",
                                          "url": "https://teams.microsoft.com/l/channel/19%3Afake/Alerts"}]
    assert webhook.sizes[0] <= cards.WEBHOOK_LIMIT
    assert rows(services)[0].status == "sent"


def test_429_then_503_then_ok_posts_exactly_once(services, webhook, clock):
    webhook.answers += [(429, {"Retry-After": "20"}), (503, {})]
    queue(services, clock, "a1", "C1234 (Case A) missing for 24 hours")
    assert deliver_due(services) == 0
    assert rows(services)[0].next_attempt_at == clock() + timedelta(seconds=20)
    clock.advance(seconds=20)
    assert deliver_due(services) == 0 and rows(services)[0].error == "unknown outcome: http_503"
    clock.advance(seconds=10)
    assert deliver_due(services) == 1
    assert rows(services)[0].error.startswith(UNCHECKED)  # the flow may have run twice: /missing health counts it
    assert len(webhook.posts) == 1


@pytest.mark.parametrize("status", [400, 404])
def test_4xx_is_permanent_and_shown_in_health(services, webhook, clock, status):
    webhook.answers.append((status, {}))
    queue(services, clock, "a1", "C1234 (Case A) missing for 24 hours")
    deliver_due(services)
    row = next(r for r in rows(services) if r.key == "a1")
    assert row.status == "failed" and row.error == f"webhook refused: http_{status}"
    clock.advance(hours=1)
    deliver_due(services)
    assert not webhook.posts
    health = run_command(services, user_id=ADMIN_USER, channel_id="C0ALERTS01", text="health", is_admin=True)
    assert f"http_{status}" in health.text


def test_a_long_message_is_shortened_to_fit_28_kb(services, webhook, clock):
    queue(services, clock, "a1", "Agenda for C1234 (Case A)\n" + ("A long line of the agenda. " * 40 + "\n") * 60)
    assert deliver_due(services) == 1
    assert webhook.sizes[0] <= cards.WEBHOOK_LIMIT
    validate(webhook.posts[0]["attachments"][0]["content"], "1.4")
    assert "Shortened for Teams" in json.dumps(webhook.posts[0])
