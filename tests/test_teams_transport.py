"""Outbox rows delivered to Teams by the real deliverer (scheduler/delivery.py) through the Teams
transport (the SDK's API client) to the fake Bot Connector: proactive posts to a channel stored by
`alerts here`, thread replies, updates in place, personal messages, and the connector's failures
(429 + Retry-After, 5xx, 403 when the bot was removed, a timeout) on the deliverer's rules."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.messages import Message
from bot.platforms import TEAMS
from scheduler import transports
from scheduler.delivery import deliver_due
from scheduler.transports import teams as teams_transport
from store.models import Outbox
from store.outbox import UNCHECKED, enqueue
from store.teams import TeamsConversation
from tests.teams.connector import Failure
from tests.teams.fixtures import (  # noqa: F401 - fixtures
    ADMIN_ID, CHANNEL, WORKER, WORKER_ID, _close_teams_clients, connector, issuer, settings,
)
from tests.teams.schemas import validate


@pytest.fixture
def alerts_channel(services, connector, issuer, clock):
    """The channel an admin chose with `alerts here`, and the worker's personal chat, as the edge stores them."""
    with services.sessions.begin() as s:
        s.add(TeamsConversation(kind="channel", conversation_id=CHANNEL, service_url=connector.url,
                                tenant_id=issuer.tenant_id, alerts=True, created_at=clock(), updated_at=clock()))
        s.add(TeamsConversation(kind="personal", conversation_id="a:1fake-worker-chat", service_url=connector.url,
                                tenant_id=issuer.tenant_id, aad_id=WORKER_ID, teams_user_id=WORKER[0],
                                name=WORKER[1], created_at=clock(), updated_at=clock()))
    return CHANNEL


def queue(services, clock, key: str, text: str, channel: str = CHANNEL, thread_key: str | None = None) -> None:
    with services.sessions.begin() as s:
        enqueue(s, key=key, kind="alert.long_missing", channel=channel, platform=TEAMS, text=text, now=clock(),
                thread_key=thread_key)


def rows(services) -> list[Outbox]:
    with services.sessions() as s:
        return list(s.scalars(select(Outbox).order_by(Outbox.id)))


def posts(connector):
    return [c for c in connector.delivered() if c.method == "POST" and "/activities" in c.path]


def test_registry_has_teams_when_configured(services):
    registry = transports.for_services(services)
    assert {"slack", "email", "teams"} <= set(registry) and "teams_webhook" not in registry


def test_alert_posted_to_the_stored_channel_as_a_valid_card_then_a_reply_in_its_thread(
        services, connector, alerts_channel, clock, issuer):
    queue(services, clock, "a1", ":rotating_light: C1234 (Case A) missing for 24 hours", thread_key="episode:1")
    queue(services, clock, "a2", ":alarm_clock: C1234 (Case A) missing for 72 hours", thread_key="episode:1")
    assert deliver_due(services) == 2
    first, second = posts(connector)
    assert first.conversation_id == CHANNEL
    [att] = first.body["attachments"]
    validate(att["content"], "1.5")
    assert "🚨 C1234 (Case A) missing for 24 hours" in att["content"]["body"][0]["text"]
    root = rows(services)[0].sent_ref
    assert root and second.conversation_id == f"{CHANNEL};messageid={root}"
    assert [r.status for r in rows(services)] == ["sent", "sent"]
    assert len(issuer.token_requests) == 1  # one client-credentials grant, cached


def test_update_in_place_is_a_put_to_the_same_activity(services, connector, alerts_channel, clock):
    queue(services, clock, "a1", "C1234 (Case A) missing for 24 hours")
    deliver_due(services)
    ref = rows(services)[0].sent_ref
    teams = transports.for_services(services)["teams"]
    teams.update(CHANNEL, ref, Message(text="C1234 (Case A) missing for 24 hours", notes=["Acknowledged at 10:05"]))
    [put] = [c for c in connector.delivered() if c.method == "PUT"]
    assert (put.conversation_id, put.activity_id) == (CHANNEL, ref)
    validate(put.body["attachments"][0]["content"], "1.5")


def test_personal_copy_goes_to_the_users_chat_by_entra_id(services, connector, alerts_channel, clock):
    queue(services, clock, "w1", "C1234 (Case A) is missing: you are the allocated worker", channel=WORKER_ID)
    deliver_due(services)
    [post] = posts(connector)
    assert post.conversation_id == "a:1fake-worker-chat"


def test_429_then_500_then_ok_posts_exactly_once(services, connector, alerts_channel, clock):
    connector.fail_next(Failure(429, retry_after=7), Failure(500))
    queue(services, clock, "a1", "C1234 (Case A) missing for 24 hours")
    assert deliver_due(services) == 0
    [row] = rows(services)
    assert (row.status, row.error, row.next_attempt_at) == ("pending", "throttled", clock() + __import__("datetime").timedelta(seconds=7))
    assert deliver_due(services) == 0  # not due yet: nothing sent
    clock.advance(seconds=7)
    assert deliver_due(services) == 0
    [row] = rows(services)
    assert row.status == "pending" and row.error == "unknown outcome: http_500"  # it may have gone
    clock.advance(seconds=10)
    assert deliver_due(services) == 1
    [row] = rows(services)  # nothing to look in: sent again, and marked so that /missing health counts it
    assert row.status == "sent" and row.error.startswith(UNCHECKED)
    assert len(posts(connector)) == 1 and [c.status for c in connector.calls] == [429, 500, 200]


def test_bot_removed_403_fails_the_row_and_admins_are_told_in_their_personal_chat(
        services, connector, alerts_channel, clock, slack_stub):
    connector.fail_next(Failure(403))
    queue(services, clock, "a1", "C1234 (Case A) missing for 24 hours")
    deliver_due(services)
    by_key = {r.key: r for r in rows(services)}
    assert by_key["a1"].status == "failed" and "403" in by_key["a1"].error
    notices = [r for r in rows(services) if r.kind == "admin.delivery_failed"]
    assert {(r.platform, r.address) for r in notices} >= {(TEAMS, ADMIN_ID)}
    teams_notice = next(r for r in notices if r.address == ADMIN_ID)
    assert teams_notice.status == "sent"
    # The admin never wrote to the bot: it opened a chat with them (by Entra object id) and posted there.
    [create] = [c for c in connector.calls if c.path.endswith("/v3/conversations")]
    assert create.body["members"][0]["id"] == ADMIN_ID
    assert any(c.conversation_id.startswith("a:fake-personal-") for c in posts(connector))


def test_unknown_conversation_is_a_permanent_failure(services, connector, clock):
    queue(services, clock, "a1", "C1234 (Case A) missing for 24 hours", channel="19:never-stored@thread.tacv2")
    deliver_due(services)
    row = next(r for r in rows(services) if r.key == "a1")
    assert row.status == "failed" and "unknown" in row.error and not posts(connector)


def test_timeout_after_the_connector_accepted_is_unknown_and_repeated_at_most_once(
        services, connector, alerts_channel, clock, monkeypatch):
    """The Bot Connector cannot list a conversation's messages, so an unknown outcome cannot be
    reconciled: the deliverer's bound applies (the one message in flight may appear twice)."""
    monkeypatch.setattr(teams_transport, "TIMEOUT", 0.5)
    connector.fail_next(Failure(200, delay=1.5, accept=True))
    queue(services, clock, "a1", "C1234 (Case A) missing for 24 hours")
    assert deliver_due(services) == 0
    [row] = rows(services)
    assert row.status == "pending" and row.error.startswith("unknown outcome")
    assert not transports.for_services(services)["teams"].can_find(row)
    clock.advance(seconds=10)
    assert deliver_due(services) == 1
    assert connector.wait_for(2)  # the late first answer is recorded when the fake finishes it
    assert len(posts(connector)) == 2  # the bound: one repeat, never more
    clock.advance(minutes=10)
    assert deliver_due(services) == 0 and len(posts(connector)) == 2
    # and /missing health says so, and why
    from handlers.commands import run_command

    health = str(run_command(services, user_id="UADMIN0001", channel_id="C1", text="health", is_admin=True).text)
    assert "1 message(s) sent without checking for an earlier copy after an unknown outcome" in health
    assert "Teams keeps no message history" in health
