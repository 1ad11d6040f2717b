"""Acknowledge first: a button, a form submission or a command that opens a form is answered
without waiting on the Slack Web API (Slack gives up on an answer after 3 seconds; a slow Web API
used to turn a saved button press into an HTTP 500 after the client's 10 seconds).

The fake Slack holds every Web API call the bot could make after the answer (the answer must
not need them); the client would wait 60 seconds for each. The request is answered while they
are held, its change is saved, and once Slack answers the form opens and the alert copies update."""
from __future__ import annotations

import threading

import pytest
from slack_sdk import WebClient

from bot.context import build_services
from handlers.slack.app import build_app
from scheduler.delivery import deliver_due
from store.alerts import Alert
from tests.clock_helpers import child, report
from tests.conftest import ALERT_CHANNEL, DUTY_USER
from tests.slack import block_actions_body, dispatch, slash_body
from tests.test_clock_buttons import alert_message, button, ts_of

AFTER_THE_ANSWER = ("chat.update", "chat.postEphemeral", "chat.postMessage", "views.open")
# Far less than the client's patience with a held call (60 s) and the fake's hold (30 s): an app
# that waited on Slack inside the request would still be waiting.
ANSWERED_WITHIN = 20


@pytest.fixture
def slow(settings, slack_stub, clock):
    client = WebClient(token=settings.slack_bot_token, base_url=slack_stub.url, timeout=60)
    client.retry_handlers = []
    services = build_services(settings, migrate=False, client=client, clock=clock)
    yield services
    services.engine.dispose()


def answered_while_slack_holds(app, slack_stub, body: str):
    """Dispatch `body` while the fake Slack holds its answers; the response, or None if the app is
    still waiting when it should long have answered."""
    for method in AFTER_THE_ANSWER:
        slack_stub.hold(method)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("response", dispatch(app, body, settle=False)))
    thread.start()
    thread.join(ANSWERED_WITHIN)
    answered = not thread.is_alive()
    for method in AFTER_THE_ANSWER:
        slack_stub.release(method)
    thread.join()
    app.settle()
    return result["response"] if answered else None


def posted_alert(services, slack_stub, clock):
    child(services, "C100", "AB")
    report(services, "C100", clock.now)
    clock.advance(hours=24)
    from scheduler.sweep import sweep

    sweep(services)
    post = alert_message(slack_stub, "Missing for 24 hours")
    return post, ts_of(services, post["text"])


def test_a_button_is_answered_and_saved_while_slack_is_slow(slow, slack_stub, clock):
    app = build_app(slow)
    post, ts = posted_alert(slow, slack_stub, clock)
    alert_id = button(post, "alert_ack")["value"]

    response = answered_while_slack_holds(app, slack_stub, block_actions_body("alert_ack", alert_id, message_ts=ts))

    assert response is not None and response.status == 200
    with slow.sessions() as s:
        assert s.get(Alert, int(alert_id)).acknowledged_by == DUTY_USER
    deliver_due(slow)  # where the copies are updated through the outbox
    app.settle()
    updated = [u for u in slack_stub.posts("chat.update") if u["channel"] == ALERT_CHANNEL and u["ts"] == ts]
    assert updated and f"<@{DUTY_USER}>" in str(updated[-1]["blocks"])


def test_a_button_that_opens_a_form_is_answered_before_the_form_opens(slow, slack_stub, clock):
    app = build_app(slow)
    post, ts = posted_alert(slow, slack_stub, clock)
    alert_id = button(post, "alert_strategy_held")["value"]

    response = answered_while_slack_holds(app, slack_stub,
                                          block_actions_body("alert_strategy_held", alert_id, message_ts=ts))

    assert response is not None and response.status == 200
    assert slack_stub.posts("views.open")[-1]["view"]["callback_id"] == "alert_held_modal"


def test_a_command_that_opens_a_form_is_answered_before_the_form_opens(slow, slack_stub, clock):
    app = build_app(slow)

    response = answered_while_slack_holds(app, slack_stub, slash_body("report"))

    assert response is not None and response.status == 200 and "Opening the form" in response.body
    assert slack_stub.posts("views.open")[-1]["view"]["callback_id"] == "missing_report"
