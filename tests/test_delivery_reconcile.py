"""Exactly once when the outcome of a post is unknown: the deliverer looks for the row's key in
the channel before posting again (real WebClient, fake Slack Web API on 127.0.0.1)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from slack_sdk import WebClient

from tests.slack_stub import Failure
from scheduler.delivery import UNCHECKED, UNKNOWN, deliver_due
from store.outbox import enqueue
from tests.clock_helpers import outbox
from tests.conftest import ALERT_CHANNEL


@pytest.fixture
def impatient(services, slack_stub):
    """The bot's client with a short timeout, so 'Slack answers after the client gave up' takes a
    second instead of the production 10 s (the same shape: the post is accepted, the answer lost)."""
    client = WebClient(token=services.settings.slack_bot_token, base_url=slack_stub.url, timeout=0.5)
    client.retry_handlers = []
    services.client = client
    return services


def queue(services, clock, key="k1", channel=ALERT_CHANNEL, thread_key=None):
    with services.sessions.begin() as s:
        enqueue(s, key=key, kind="change.test", channel=channel, text=f"line {key}", now=clock.now, thread_key=thread_key)


def unknown_then_sent_once(services, slack_stub, clock, failure: Failure):
    """The first post meets `failure`: an unknown outcome, retried; 30 s on the row is sent, and the
    channel holds the message once. Returns the row."""
    queue(services, clock)
    slack_stub.fail_next("chat.postMessage", failure)
    assert deliver_due(services) == 0
    [row] = outbox(services)
    assert row.status == "pending" and row.error.startswith(UNKNOWN)
    clock.advance(seconds=30)
    assert deliver_due(services, clock.now) == 1
    [row] = outbox(services)
    assert row.status == "sent" and row.error is None
    assert [m["text"] for m in slack_stub.channel_messages(ALERT_CHANNEL)] == ["line k1"]  # once, not twice
    return row


def test_slack_accepts_but_answers_after_the_client_gave_up(impatient, slack_stub, clock):
    row = unknown_then_sent_once(impatient, slack_stub, clock, Failure(accept=True, delay=1.0))
    assert row.sent_ref == slack_stub.channel_messages(ALERT_CHANNEL)[0]["ts"]
    assert len(slack_stub.posts()) == 1  # found by its key, never posted again


@pytest.mark.parametrize("accepted", [False, True])
def test_a_200_html_page_is_transient_and_the_message_appears_once(services, slack_stub, clock, accepted):
    queue(services, clock)
    slack_stub.fail_next("chat.postMessage", Failure(html=True, accept=accepted))
    assert deliver_due(services) == 0
    [row] = outbox(services)
    assert row.status == "pending", row.error  # never failed for ever
    clock.advance(seconds=30)
    deliver_due(services, clock.now)
    [row] = outbox(services)
    assert row.status == "sent"
    assert [m["text"] for m in slack_stub.channel_messages(ALERT_CHANNEL)] == ["line k1"]


@pytest.mark.parametrize("accepted", [False, True])
def test_a_5xx_is_an_unknown_outcome_and_the_message_appears_once(services, slack_stub, clock, accepted):
    """Slack on internal_error: "it's possible some aspect of the operation succeeded". A 500 after
    the post went in must not post it again; one before must still post it."""
    unknown_then_sent_once(services, slack_stub, clock, Failure(status=500, accept=accepted))
    assert len(slack_stub.posts()) == (1 if accepted else 2)  # found by its key, or posted when it was not there


def test_a_thread_reply_is_looked_for_in_its_thread(impatient, slack_stub, clock):
    services = impatient
    queue(services, clock, key="root", thread_key="episode:1")
    queue(services, clock, key="reply", thread_key="episode:1")
    slack_stub.fail_next("chat.postMessage", Failure(accept=True), Failure(accept=True, delay=1.0))
    deliver_due(services)
    clock.advance(seconds=30)
    deliver_due(services, clock.now)
    assert {r.key: r.status for r in outbox(services)} == {"root": "sent", "reply": "sent"}
    texts = [m["text"] for m in slack_stub.channel_messages(ALERT_CHANNEL)]
    assert sorted(texts) == ["line reply", "line root"]


def test_a_direct_message_is_looked_for_in_the_im_channel(impatient, slack_stub, clock):
    services = impatient
    queue(services, clock, channel="UWORKER001")
    slack_stub.fail_next("chat.postMessage", Failure(accept=True, delay=1.0))
    deliver_due(services)
    clock.advance(seconds=30)
    deliver_due(services, clock.now)
    assert [m["text"] for m in slack_stub.channel_messages("DWORKER001")] == ["line k1"]


def test_without_history_scopes_it_falls_back_to_the_old_bound_and_health_says_so(app, impatient, slack_stub, clock):
    from tests.conftest import ADMIN_USER
    from tests.slack import command

    services = impatient
    slack_stub.history_error = "missing_scope"
    queue(services, clock)
    slack_stub.fail_next("chat.postMessage", Failure(accept=True, delay=1.0))
    deliver_due(services)
    clock.advance(seconds=30)
    deliver_due(services, clock.now)
    [row] = outbox(services)
    assert row.status == "sent" and row.error.startswith(UNCHECKED)
    assert len(slack_stub.channel_messages(ALERT_CHANNEL)) == 2  # the bound: the one in flight, repeated
    reply = command(app, "health", user_id=ADMIN_USER)["text"]
    assert "without checking for an earlier copy" in reply and "missing_scope" in reply
    assert "channels:history" in reply


def test_a_refused_connection_is_retried_without_looking(services, slack_stub, clock):
    queue(services, clock)
    port = slack_stub._server.server_address[1]
    slack_stub.stop()  # nothing listens: the post cannot have reached Slack
    services.client = WebClient(token="xoxb-test-token", base_url=f"http://127.0.0.1:{port}/api/", timeout=1)
    deliver_due(services)
    [row] = outbox(services)
    assert row.status == "pending" and not row.error.startswith(UNKNOWN)
    slack_stub.start()  # the fixture stops it again
