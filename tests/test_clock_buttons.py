"""The alert buttons and `/missing health`, through the Bolt app with signed requests."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from handlers.commands import run_command
from scheduler.delivery import deliver_due
from scheduler.sweep import sweep
from store.alerts import Alert
from store.models import AuditRecord, Episode, HeldMeeting
from tests.clock_helpers import child, found, report
from tests.conftest import ADMIN_USER, ALERT_CHANNEL, DUTY_USER, STRANGER
from tests.slack import block_actions_body, dispatch, view_submission_body

WORKER = "UWORKER001"


@pytest.fixture
def bolt(services):
    from handlers.slack.app import build_app

    services.on_enqueued = lambda: deliver_due(services)
    return build_app(services)


def alert_message(stub, rule_text: str, channel: str = ALERT_CHANNEL) -> dict:
    """The posted alert (args of chat.postMessage) whose text starts with `rule_text`, with its ts."""
    for call in stub.calls:
        if call.method == "chat.postMessage" and call.args.get("channel") == channel and \
                call.args["text"].startswith(rule_text):
            return call.args
    raise AssertionError(f"no alert {rule_text!r} posted")


def ts_of(services, text: str, channel: str = ALERT_CHANNEL) -> str:
    from tests.clock_helpers import outbox

    return next(r.sent_ref for r in outbox(services) if r.text == text and r.address == channel)


def button(post: dict, action_id: str) -> dict:
    for block in post["blocks"]:
        for el in block.get("elements", []):
            if el.get("action_id") == action_id:
                return el
    raise AssertionError(f"no {action_id} button")


def updates(stub) -> list[dict]:
    return stub.posts("chat.update")


def long_missing(services, stub, clock) -> tuple[dict, str]:
    child(services, "C100", "AB", worker=WORKER)
    report(services, "C100", clock.now)
    clock.advance(hours=24)
    sweep(services)
    post = alert_message(stub, "Missing for 24 hours")
    return post, ts_of(services, post["text"])


def ri_overdue(services, stub, clock, ref: str, label: str, missing_hours: int) -> tuple[dict, str]:
    """A child back 72 hours with no interview recorded: the overdue alert as posted, and its ts."""
    child(services, ref, label)
    report(services, ref, clock.now - timedelta(hours=missing_hours))
    found(services, ref, clock.now)
    clock.advance(hours=72)
    sweep(services)
    post = alert_message(stub, "Return interview overdue")
    return post, ts_of(services, post["text"])


def test_acknowledge_records_who_and_when_and_updates_every_copy(bolt, services, slack_stub, clock):
    post, ts = long_missing(services, slack_stub, clock)
    alert_id = button(post, "alert_ack")["value"]
    resp = dispatch(bolt, block_actions_body("alert_ack", alert_id, message_ts=ts))
    assert resp.status == 200
    with services.sessions() as s:
        alert = s.get(Alert, int(alert_id))
        assert alert.acknowledged_by == DUTY_USER and alert.acknowledged_at == clock.now
        assert s.scalar(select(AuditRecord).where(AuditRecord.action == "alert.acknowledge")).actor == DUTY_USER
    ups = updates(slack_stub)
    assert {(u["channel"], u["ts"]) for u in ups} == {(ALERT_CHANNEL, ts), (WORKER, ts_of(services, post["text"], WORKER))}
    for u in ups:
        text = json.dumps(u["blocks"])
        assert f"Acknowledged by <@{DUTY_USER}>" in text and "alert_ack" not in text and "alert_strategy_held" in text

    # a second press (someone else, later) keeps the first acknowledgement and writes no audit
    clock.advance(minutes=3)
    dispatch(bolt, block_actions_body("alert_ack", alert_id, user_id=ADMIN_USER, message_ts=ts))
    with services.sessions() as s:
        assert s.get(Alert, int(alert_id)).acknowledged_by == DUTY_USER
        assert len(list(s.scalars(select(AuditRecord).where(AuditRecord.action == "alert.acknowledge")))) == 1


def test_a_stranger_cannot_acknowledge(bolt, services, slack_stub, clock):
    post, ts = long_missing(services, slack_stub, clock)
    alert_id = button(post, "alert_ack")["value"]
    dispatch(bolt, block_actions_body("alert_ack", alert_id, user_id=STRANGER, message_ts=ts))
    with services.sessions() as s:
        assert s.get(Alert, int(alert_id)).acknowledged_at is None
    assert updates(slack_stub) == []
    assert "not authorised" in slack_stub.posts("chat.postEphemeral")[0]["text"]


def test_strategy_meeting_held_opens_a_form_that_records_when_it_was_held(bolt, services, slack_stub, clock):
    post, ts = long_missing(services, slack_stub, clock)
    alert_id = button(post, "alert_strategy_held")["value"]
    dispatch(bolt, block_actions_body("alert_strategy_held", alert_id, message_ts=ts))
    view = slack_stub.posts("views.open")[-1]["view"]
    assert view["callback_id"] == "alert_held_modal"
    clock.advance(hours=3)  # the form is filled in later than the meeting was held
    held_at = clock.now - timedelta(hours=2)
    state = {"kind": {"value": {"type": "static_select", "selected_option": {"value": "strategy"}}},
             "at": {"value": {"type": "datetimepicker", "selected_date_time": int(held_at.timestamp())}}}
    assert dispatch(bolt, view_submission_body(view, state)).body in ("", None)
    with services.sessions() as s:
        [m] = s.scalars(select(HeldMeeting)).all()
        assert (m.kind, m.held_at, m.recorded_by, m.alert_id) == ("strategy", held_at, DUTY_USER, int(alert_id))
        assert s.scalar(select(AuditRecord).where(AuditRecord.action == "meeting.held")).actor == DUTY_USER
    text = json.dumps(updates(slack_stub)[0]["blocks"])
    assert "Strategy meeting held" in text and "alert_strategy_held" not in text


def test_record_interview_outcome_from_the_overdue_alert(bolt, services, slack_stub, clock):
    post, ts = ri_overdue(services, slack_stub, clock, "C300", "GH", 2)
    dispatch(bolt, block_actions_body("alert_record_ri", button(post, "alert_record_ri")["value"], message_ts=ts))
    view = slack_stub.posts("views.open")[0]["view"]
    assert view["callback_id"] == "alert_ri_modal" and "C300 (GH)" in json.dumps(view)

    def submit(stamp: int):
        state = {"outcome": {"value": {"type": "static_select", "selected_option": {"value": "completed"}}},
                 "at": {"value": {"type": "datetimepicker", "selected_date_time": stamp}},
                 "by": {"value": {"type": "plain_text_input", "value": "Jo (Runaways service)"}}}
        return dispatch(bolt, view_submission_body(view, state))

    # a time in the future is refused in the form, and nothing changes
    resp = submit(int((clock.now + timedelta(hours=2)).timestamp()))
    assert json.loads(resp.body)["response_action"] == "errors"
    with services.sessions() as s:
        assert s.scalar(select(Episode)).ri_outcome is None

    done_at = clock.now - timedelta(hours=1)
    resp = submit(int(done_at.timestamp()))
    assert resp.status == 200 and not resp.body
    with services.sessions() as s:
        ep = s.scalar(select(Episode))
        assert (ep.ri_outcome, ep.ri_at, ep.ri_by) == ("completed", done_at, "Jo (Runaways service)")
    text = json.dumps(updates(slack_stub)[-1]["blocks"])
    assert "Return interview completed" in text and "alert_record_ri" not in text
    # and the reminders stop
    clock.advance(days=1)
    slack_stub.take()
    sweep(services)
    assert not [p for p in slack_stub.posts() if "overdue" in p["text"]]


def test_health_for_admins_only(services, slack_stub, clock):
    reply = run_command(services, user_id=DUTY_USER, channel_id=ALERT_CHANNEL, text="health", is_admin=False)
    assert "Only missing-bot administrators" in reply.text
    reply = run_command(services, user_id=ADMIN_USER, channel_id=ALERT_CHANNEL, text="health", is_admin=True)
    assert "The clock has never run" in reply.text
    child(services, "C100", "AB")
    report(services, "C100", clock.now)
    sweep(services)
    clock.advance(minutes=10)
    reply = run_command(services, user_id=ADMIN_USER, channel_id=ALERT_CHANNEL, text="health", is_admin=True)
    assert ":warning: Last sweep: Thu 19 Nov 2026 10:00 GMT (10m ago)" in reply.text
    assert "Deliveries: 0 pending, 0 in flight, 0 failed" in reply.text
    assert "C100" not in reply.text


def test_missing_again_before_the_interview_one_interview_stops_both_sets_of_reminders(bolt, services, slack_stub,
                                                                                        clock):
    # Returned Monday, missing again Tuesday, back Wednesday: the Thursday deadline of the first return
    # is still owed. One interview after the second return covers both, and both stop reminding.
    child(services, "C400", "IJ")
    report(services, "C400", clock.now - timedelta(hours=5))
    found(services, "C400", clock.now)
    report(services, "C400", clock.advance(hours=30))
    found(services, "C400", clock.advance(hours=10))
    clock.advance(hours=33)  # 73 h after the first return: its deadline has passed
    sweep(services)
    assert alert_message(slack_stub, "Return interview overdue")
    reply = run_command(services, user_id=DUTY_USER, channel_id=ALERT_CHANNEL,
                        text="interview C400 completed at 1h ago", is_admin=False)
    assert "return interview *completed*" in reply.text and "Also recorded for the earlier return" in reply.text
    lines = [p["text"] for p in slack_stub.posts() if "return interview completed" in p["text"]]
    assert lines == [":memo: C400 (IJ): return interview completed (covering 2 returns)."]  # one line, not one each
    with services.sessions() as s:
        assert [e.ri_outcome for e in s.scalars(select(Episode).order_by(Episode.started_at))] == ["completed"] * 2
        assert len(s.scalars(select(AuditRecord).where(AuditRecord.action == "episode.interview")).all()) == 2
    slack_stub.take()
    for _ in range(3):
        clock.advance(days=1)
        sweep(services)
    assert not [p for p in slack_stub.posts() if "Return interview" in p["text"]]


def test_the_alert_form_records_the_outcome_of_its_own_episode_even_after_a_later_one(bolt, services, slack_stub,
                                                                                      clock):
    post, ts = ri_overdue(services, slack_stub, clock, "C500", "KL", 3)
    report(services, "C500", clock.now - timedelta(minutes=30))  # missing again before anyone acted
    dispatch(bolt, block_actions_body("alert_record_ri", button(post, "alert_record_ri")["value"], message_ts=ts))
    view = slack_stub.posts("views.open")[-1]["view"]
    state = {"outcome": {"value": {"type": "static_select", "selected_option": {"value": "declined"}}},
             "at": {"value": {"type": "datetimepicker", "selected_date_time": int(clock.now.timestamp()) - 60}}}
    resp = dispatch(bolt, view_submission_body(view, state))
    assert resp.status == 200 and not resp.body
    with services.sessions() as s:
        first, second = s.scalars(select(Episode).order_by(Episode.started_at))
        assert (first.ri_outcome, second.ri_outcome, second.returned_at) == ("declined", None, None)
