"""Defects found in review of the protocol clock, each shown through the real code."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.protocol import clock as rules
from bot.protocol.config import Protocol
from scheduler.delivery import deliver_due
from scheduler.sweep import sweep
from store import alerts
from store.models import AuditRecord, Episode
from tests.clock_helpers import alert_posts, child, found, interview, outbox, report
from tests.conftest import ADMIN_USER, ALERT_CHANNEL, DUTY_USER
from tests.slack import block_actions_body, dispatch, view_submission_body
from tests.test_clock_buttons import alert_message, bolt, button, ri_overdue, ts_of  # noqa: F401 - `bolt` is a fixture

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")
WORKER = "UWORKER001"


# -- the interview form must not overwrite an outcome recorded while it was open ----------------
def test_interview_form_does_not_overwrite_an_outcome_recorded_meanwhile(bolt, services, slack_stub, clock):
    post, ts = ri_overdue(services, slack_stub, clock, "C300", "GH", 2)
    dispatch(bolt, block_actions_body("alert_record_ri", button(post, "alert_record_ri")["value"], message_ts=ts))
    view = slack_stub.posts("views.open")[0]["view"]

    # while the form is open, a colleague records the outcome (from the DM copy, or by command)
    declined_at = clock.now - timedelta(minutes=30)
    interview(services, "C300", declined_at, outcome="declined")

    state = {"outcome": {"value": {"type": "static_select", "selected_option": {"value": "completed"}}},
             "at": {"value": {"type": "datetimepicker", "selected_date_time": int(clock.now.timestamp()) - 3600}},
             "by": {"value": {"type": "plain_text_input", "value": ""}}}
    resp = dispatch(bolt, view_submission_body(view, state, user_id=ADMIN_USER))
    body = json.loads(resp.body)
    assert body["response_action"] == "errors" and "already recorded" in json.dumps(body["errors"])
    with services.sessions() as s:
        ep = s.scalar(select(Episode))
        assert (ep.ri_outcome, ep.ri_at) == ("declined", declined_at)
        assert len(list(s.scalars(select(AuditRecord).where(AuditRecord.action == "episode.interview")))) == 1


# -- acknowledgement: the first press wins, even when two land at once --------------------------
@pytest.mark.skipif("not __import__('os').environ.get('TEST_DATABASE_URL')",
                    reason="SQLite serialises writers (BEGIN IMMEDIATE); the race needs PostgreSQL")
def test_two_acknowledgements_at_once_keep_the_first(services, clock):
    child(services, "C100", "AB")
    report(services, "C100", clock.now - timedelta(hours=25))
    with services.sessions() as s:
        alert_id = s.scalar(select(alerts.Alert.id))
    with services.sessions.begin() as a:
        assert a.get(alerts.Alert, alert_id).acknowledged_at is None  # a reads: not acknowledged yet
        with services.sessions.begin() as b:  # b acknowledges and commits in between
            assert alerts.acknowledge(b, alert_id, DUTY_USER, clock.now)
        assert not alerts.acknowledge(a, alert_id, ADMIN_USER, clock.now + timedelta(seconds=1))
    with services.sessions() as s:
        alert = s.get(alerts.Alert, alert_id)
        assert (alert.acknowledged_by, alert.acknowledged_at) == (DUTY_USER, clock.now)


# -- a late "24 h remain" reminder says how long really remains ---------------------------------
def test_reminder_fired_late_shows_the_time_that_really_remains(services, slack_stub, clock):
    child(services, "C300", "GH")
    now = clock.now
    clock.set(now - timedelta(hours=62))
    report(services, "C300", clock.now)
    clock.set(now)
    found(services, "C300", clock.now - timedelta(hours=60))  # recorded late: 12 h to the deadline
    deliver_due(services)
    [post] = alert_posts(slack_stub)
    assert post["text"] == "Return interview due in 12h 0m: C300 (GH)"


def test_reminder_on_time_still_says_24_h(services, slack_stub, clock):
    t0 = clock.now
    child(services, "C301", "GJ")
    report(services, "C301", t0 - timedelta(hours=3))
    found(services, "C301", t0)
    clock.set(t0 + timedelta(hours=48, seconds=40))  # the minute sweep, a little after the instant
    sweep(services)
    assert [p["text"] for p in alert_posts(slack_stub)] == ["Return interview due in 24 h: C301 (GJ)"]


# -- persistence count at the repeated hour of the autumn change --------------------------------
def test_an_episode_started_in_the_repeated_hour_leaves_the_window_once():
    # 01:30 GMT on 25 Oct 2026 (the second 01:30 of that night) is 01:30 UTC; thirty calendar days
    # later is 01:30 GMT on 24 Nov. At 01:45 UTC it has left the window: the count is 2, and a
    # crossing not alerted before (downtime) is stale.
    a = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert a.astimezone(LONDON).fold == 1
    x, y = datetime(2026, 11, 10, 10, tzinfo=UTC), datetime(2026, 11, 20, 10, tzinfo=UTC)
    now = datetime(2026, 11, 24, 1, 45, tzinfo=UTC)
    assert rules.count_at([a, x, y], now, 30, LONDON) == 2
    assert rules.count_at([a, x, y], now - timedelta(minutes=16), 30, LONDON) == 3
    eps = [rules.Ep(id=i + 1, child_id=1, started_at=s, returned_at=s + timedelta(hours=1))
           for i, s in enumerate((a, x, y))]
    p = Protocol()
    assert rules.persistence_due(1, eps, p.persistence[0], p, LONDON, now, None) is None


# -- the first alert about an episode is seen in the channel, later ones stay in the thread -----
def test_first_alert_of_an_episode_is_broadcast_to_the_channel_later_ones_are_not(services, slack_stub, clock):
    child(services, "C100", "AB", worker=WORKER)
    start = clock.now
    report(services, "C100", start, risk="high")  # the high-risk alert: the first alert of the thread
    deliver_due(services)
    clock.set(start + timedelta(hours=24))
    sweep(services)
    clock.set(start + timedelta(hours=72))
    sweep(services)
    posts = {p["text"]: p for p in alert_posts(slack_stub)}
    root = next(r.sent_ref for r in outbox(services) if r.kind == "change.reported")
    long24 = "Missing for 24 hours since Thu 19 Nov 2026 10:00 GMT: C100 (AB)"
    long72 = "Missing for 72 hours since Thu 19 Nov 2026 10:00 GMT: C100 (AB)"
    assert list(posts) == ["High risk: C100 (AB)", long24, long72]
    assert {p["thread_ts"] for p in posts.values()} == {root}
    assert posts["High risk: C100 (AB)"].get("reply_broadcast") is True
    assert not posts[long24].get("reply_broadcast")
    assert not posts[long72].get("reply_broadcast")
    assert not any(p.get("reply_broadcast") for p in alert_posts(slack_stub, WORKER))  # DMs have no thread
    assert not any(p.get("reply_broadcast") for p in slack_stub.posts() if not p["text"].startswith(
        ("High", "Missing for")))  # nor do the record's own lines
    assert ALERT_CHANNEL in {p["channel"] for p in posts.values()}


# -- a reminder stored by a sweep racing the outcome's transaction is not posted ----------------
@pytest.mark.skipif("not __import__('os').environ.get('TEST_DATABASE_URL')",
                    reason="SQLite serialises writers (BEGIN IMMEDIATE); the race needs PostgreSQL")
def test_reminder_stored_by_a_sweep_that_read_before_the_outcome_is_not_posted(services, slack_stub, clock):
    t0 = clock.now
    child(services, "C300", "GH")
    report(services, "C300", t0 - timedelta(hours=3))
    found(services, "C300", t0)
    deliver_due(services)
    clock.set(t0 + timedelta(hours=72))
    env = alerts.Env(clock.now, services.protocol, services.zone, services.settings.alert_channel)
    with services.sessions.begin() as a:  # a sweep's batch: reads the episode, no outcome yet ...
        ep = a.scalar(select(Episode))
        interview(services, "C300", clock.now)  # ... the outcome commits meanwhile ...
        assert alerts.evaluate_episode(a, ep, env) == 1  # ... and the batch stores the overdue alert
    deliver_due(services)
    assert not [p for p in alert_posts(slack_stub) if "Return interview" in p["text"]]
    assert {r.status for r in outbox(services) if r.kind.startswith("alert.ri_")} == {"cancelled"}
