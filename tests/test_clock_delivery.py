"""Delivery through the real WebClient to the fake Slack: retries, failures, claims, threads, files."""
from __future__ import annotations

from datetime import timedelta

from slack_sdk import WebClient

from tests.slack_stub import Failure
from scheduler.delivery import GIVE_UP_AFTER, SENDING_TIMEOUT, claim_next, deliver_due
from store.alerts import health
from store.outbox import enqueue
from tests.clock_helpers import outbox
from tests.conftest import ADMIN_USER, ALERT_CHANNEL


def put(services, key: str, *, channel: str = ALERT_CHANNEL, thread_key: str | None = None, payload=None,
        text: str | None = None) -> None:
    with services.sessions.begin() as s:
        enqueue(s, key=key, kind="test", channel=channel, text=text or f"message {key}", now=services.now(),
                thread_key=thread_key, payload=payload)


def texts(stub, channel: str = ALERT_CHANNEL) -> list[str]:
    return [p["text"] for p in stub.posts() if p.get("channel") == channel]


def test_429_with_retry_after_then_500_then_ok_delivers_once_after_the_wait(services, slack_stub, clock):
    put(services, "k1")
    slack_stub.fail_next("chat.postMessage", Failure(status=429, retry_after=30), Failure(status=500))
    t0 = clock.now
    assert deliver_due(services) == 0
    [row] = outbox(services)
    assert row.status == "pending" and row.next_attempt_at == t0 + timedelta(seconds=30) and row.error == "ratelimited"

    clock.set(t0 + timedelta(seconds=29))
    assert deliver_due(services) == 0
    assert len(slack_stub.posts()) == 1  # Retry-After honoured: no call before it ran out

    clock.set(t0 + timedelta(seconds=30))
    assert deliver_due(services) == 0  # the 500
    [row] = outbox(services)
    assert row.status == "pending" and row.next_attempt_at == clock.now + timedelta(seconds=10)  # backoff, 2nd attempt

    clock.advance(seconds=10)
    assert deliver_due(services) == 1
    assert texts(slack_stub) == ["message k1"] * 3  # three calls ...
    [row] = outbox(services)
    assert row.status == "sent" and row.attempts == 3 and row.sent_ref  # ... one message delivered
    clock.advance(minutes=5)
    assert deliver_due(services) == 0 and len(slack_stub.posts()) == 3


def test_connection_errors_retry_with_backoff(services, slack_stub, clock):
    put(services, "k2")
    real = services.client
    services.client = WebClient(token="xoxb-x", base_url="http://127.0.0.1:9/api/", timeout=2)
    services.client.retry_handlers = []
    assert deliver_due(services) == 0
    [row] = outbox(services)
    assert row.status == "pending" and row.next_attempt_at == clock.now + timedelta(seconds=5)
    services.client = real
    clock.advance(seconds=5)
    assert deliver_due(services) == 1 and texts(slack_stub) == ["message k2"]


def test_permanent_error_fails_at_once_and_tells_the_admins_once(services, slack_stub, clock):
    put(services, "k3", channel="C0GONE0001")
    put(services, "k4", channel="C0GONE0001")
    slack_stub.fail_next("chat.postMessage", Failure(error="channel_not_found"), Failure(error="channel_not_found"))
    deliver_due(services)
    rows = {r.key: r for r in outbox(services)}
    assert rows["k3"].status == rows["k4"].status == "failed" and rows["k3"].error == "channel_not_found"
    notices = [p for p in slack_stub.posts() if p["channel"] == ADMIN_USER]
    assert len(notices) == 1 and "channel_not_found" in notices[0]["text"]
    clock.advance(hours=1)
    deliver_due(services)
    assert len(slack_stub.posts()) == 3  # two refused posts + one notice, never retried
    with services.sessions() as s:
        h = health(s)
    assert h.failed == 2 and h.recent_failures == [("slack", "C0GONE0001", "channel_not_found", 2)]


def test_transient_errors_give_up_after_a_day(services, slack_stub, clock):
    put(services, "k5")
    t0 = clock.now
    slack_stub.fail_next("chat.postMessage", *[Failure(status=503)] * 200)
    while clock.now < t0 + GIVE_UP_AFTER + timedelta(hours=1):
        deliver_due(services)
        clock.advance(minutes=15)
    row = next(r for r in outbox(services) if r.key == "k5")
    assert row.status == "failed" and row.error.startswith("gave up after")
    assert 20 < row.attempts < 120  # backoff capped at 15 min: tried all day, but not every sweep


def test_a_stale_claim_is_recovered_after_the_timeout_only(services, slack_stub, clock):
    put(services, "k6")
    assert claim_next(services, clock.now) is not None  # a process claims it, then dies
    clock.advance(seconds=SENDING_TIMEOUT.total_seconds() - 1)
    assert deliver_due(services) == 0 and slack_stub.posts() == []
    clock.advance(seconds=1)
    assert deliver_due(services) == 1 and texts(slack_stub) == ["message k6"]


def test_later_messages_about_an_episode_go_in_the_thread_of_the_first(services, slack_stub, clock):
    put(services, "root", thread_key="episode:1")
    put(services, "reply1", thread_key="episode:1")
    put(services, "other", thread_key="episode:2")
    slack_stub.fail_next("chat.postMessage", Failure(status=429, retry_after=10))  # the root is held back
    deliver_due(services)
    # the replies wait for their root instead of starting a second thread
    assert [p.get("thread_ts") for p in slack_stub.posts()] == [None, None]
    assert texts(slack_stub) == ["message root", "message other"]
    clock.advance(seconds=11)
    deliver_due(services)
    rows = {r.key: r for r in outbox(services)}
    reply = slack_stub.posts()[-1]
    assert reply["text"] == "message reply1" and reply["thread_ts"] == rows["root"].sent_ref
    put(services, "reply2", thread_key="episode:1")
    deliver_due(services)
    assert slack_stub.posts()[-1]["thread_ts"] == rows["root"].sent_ref


def test_direct_message_posts_to_the_user(services, slack_stub, clock):
    put(services, "dm", channel="UWORKER001")
    assert deliver_due(services) == 1
    assert slack_stub.posts()[0]["channel"] == "UWORKER001"


def test_file_rows_are_uploaded_with_files_upload_v2(services, slack_stub, clock):
    put(services, "ics", payload={"file": {"filename": "meeting.ics", "content": "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
                                           "title": "Monthly meeting"}}, text="The invite")
    assert deliver_due(services) == 1
    methods = [c.method for c in slack_stub.take()]
    assert "files.getUploadURLExternal" in methods and "files.completeUploadExternal" in methods
    assert "chat.postMessage" not in methods
    [row] = outbox(services)
    assert row.status == "sent"


def test_binary_files_are_uploaded_as_bytes(services, slack_stub, clock):
    import base64

    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    put(services, "chart", payload={"file": {"filename": "chart.png", "content": base64.b64encode(png).decode(),
                                             "encoding": "base64", "title": "Chart"}}, text="A chart")
    assert deliver_due(services) == 1
    [upload] = [c for c in slack_stub.take() if c.method == "upload"]
    assert png in upload.args["bytes"]


def test_admins_get_one_notice_a_day_per_channel_and_cause_whatever_the_attempts(services, slack_stub, clock):
    from scheduler.delivery import _fail

    put(services, "k7")
    put(services, "k8")
    rows = {r.key: r for r in outbox(services)}
    _fail(services, rows["k7"], clock.now, "gave up after 31 attempts: http_503")
    _fail(services, rows["k8"], clock.now, "gave up after 32 attempts: http_503")
    notices = [r for r in outbox(services) if r.kind == "admin.delivery_failed"]
    assert len(notices) == 1 and "http_503" in notices[0].text


def test_a_long_missing_alert_held_up_until_after_the_return_is_not_posted(services, slack_stub, clock):
    # Slack is down when the child reaches 24 hours; the child is found before it is back.
    from scheduler.sweep import sweep
    from tests.clock_helpers import child, found, report

    child(services, "C600", "MN")
    report(services, "C600", clock.now)
    deliver_due(services)
    slack_stub.take()
    slack_stub.fail_next("chat.postMessage", *[Failure(status=503)] * 3)
    clock.advance(hours=24)
    sweep(services)
    [held] = [r for r in outbox(services) if r.kind == "alert.long_missing"]
    assert held.status == "pending"
    slack_stub.take()  # the refused attempt
    found(services, "C600", clock.advance(minutes=20))
    clock.advance(hours=1)
    deliver_due(services)
    assert not [p for p in slack_stub.posts() if "Missing for 24 hours" in p["text"]]
    [held] = [r for r in outbox(services) if r.kind == "alert.long_missing"]
    assert held.status == "cancelled" and "returned" in held.error
