"""A burst: more rows due at once than a delivery pass used to take (500), through the real
WebClient to the fake Slack. One pass delivers all of them; rate limits, threads and a second
deliverer never double one. Behaviour only: how fast is benchmarks/bench.py's business."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

from slack_sdk import WebClient

from bot.context import build_services
from scheduler.delivery import deliver_due
from scheduler.sweep import sweep
from store.models import Child, Episode
from store.outbox import enqueue
from tests.clock_helpers import child, outbox, report
from tests.conftest import ALERT_CHANNEL
from tests.slack_stub import Failure

BURST = 520  # more than the 500 rows one pass used to stop at


def queue(services, n: int, *, threads: int = 0) -> list[str]:
    keys = [f"burst:{i}" for i in range(n)]
    with services.sessions.begin() as s:
        for i, key in enumerate(keys):
            enqueue(s, key=key, kind="test", channel=ALERT_CHANNEL, text=f"message {i}", now=services.now(),
                    thread_key=f"episode:{i % threads}" if threads else None)
    return keys


def posted_keys(stub) -> Counter:
    """Each outbox key as many times as Slack accepted a message carrying it."""
    return Counter(m["metadata"]["event_payload"]["key"] for m in stub.channel_messages(ALERT_CHANNEL))


def test_one_pass_delivers_every_row_due_however_many(services, slack_stub, clock):
    keys = queue(services, BURST)
    assert deliver_due(services) == BURST
    assert posted_keys(slack_stub) == Counter(keys)
    assert {r.status for r in outbox(services)} == {"sent"}
    assert deliver_due(services) == 0 and len(slack_stub.posts()) == BURST


def test_one_sweep_posts_every_alert_that_fell_due_together(services, slack_stub, clock):
    for i in range(12):
        child(services, f"C{i:03d}", f"L{i}")
        report(services, f"C{i:03d}", clock.now)
    deliver_due(services)
    slack_stub.take()
    clock.advance(hours=24)
    result = sweep(services)
    assert result.enqueued == 12 and result.delivered == 12
    rows = [r for r in outbox(services) if r.kind == "alert.long_missing"]
    assert len(rows) == 12 and {r.status for r in rows} == {"sent"}
    assert Counter(p["metadata"]["event_payload"]["key"] for p in slack_stub.posts()) == Counter(r.key for r in rows)


def test_rate_limits_in_a_burst_delay_only_the_limited_rows_and_double_none(services, slack_stub, clock):
    keys = queue(services, 60, threads=7)
    ok = Failure(accept=True)  # answered as usual
    slack_stub.fail_next("chat.postMessage", *([ok] * 5 + [Failure(status=429, retry_after=30)]) * 3)
    first = deliver_due(services)
    assert first < 60  # the limited rows, and replies waiting for a limited root, wait their turn
    pending = [r for r in outbox(services) if r.status == "pending"]
    assert pending and all(r.next_attempt_at > clock.now for r in pending)
    assert deliver_due(services) == 0  # nothing before Retry-After

    clock.advance(seconds=31)
    assert first + deliver_due(services) == 60
    clock.advance(seconds=31)
    assert deliver_due(services) == 0
    assert posted_keys(slack_stub) == Counter(keys)  # every message once
    rows = {r.key: r for r in outbox(services)}
    assert {r.status for r in rows.values()} == {"sent"}
    roots = {}  # each thread's replies under its first message
    for i, key in enumerate(keys):
        roots.setdefault(i % 7, rows[key].sent_ref)
    for m in slack_stub.channel_messages(ALERT_CHANNEL):
        i = keys.index(m["metadata"]["event_payload"]["key"])
        assert m["thread_ts"] == (None if rows[keys[i]].sent_ref == roots[i % 7] else roots[i % 7])


def test_two_deliverers_draining_one_burst_post_each_row_once(services, settings, slack_stub, clock):
    keys = queue(services, 300)
    client = WebClient(token=settings.slack_bot_token, base_url=slack_stub.url, timeout=5)
    client.retry_handlers = []
    other = build_services(settings, migrate=False, client=client, clock=clock)
    other.worker_id = "other-host:1"
    slack_stub.fail_next("chat.postMessage", *[Failure(accept=True)] * 40 + [Failure(status=429, retry_after=5)] * 4)
    sent = []
    try:
        runs = [threading.Thread(target=lambda svc=svc: sent.append(deliver_due(svc))) for svc in (services, other)]
        for t in runs:
            t.start()
        for t in runs:
            t.join(120)
        clock.advance(seconds=6)
        sent.append(deliver_due(other))
    finally:
        other.engine.dispose()
    assert sum(sent) == 300
    assert posted_keys(slack_stub) == Counter(keys)
    rows = outbox(services)
    assert {r.status for r in rows} == {"sent"} and len({r.sent_ref for r in rows}) == 300


def test_a_sweep_out_of_delivery_time_hands_the_rest_to_the_deliverer(services, slack_stub, clock, monkeypatch):
    import scheduler.sweep as sweep_module

    queue(services, 3)
    woken = []
    services.on_enqueued = lambda: woken.append(True)
    monkeypatch.setattr(sweep_module, "DELIVERY_BUDGET", 0.0)  # no time to post anything
    assert sweep(services).delivered == 0 and woken == [True]
    assert deliver_due(services) == 3  # what the woken deliverer does


def test_a_claim_takes_one_batch_and_a_second_deliverer_the_next(services, settings, slack_stub, clock):
    from scheduler.delivery import BATCH, claim_batch

    queue(services, BATCH + 10)
    other = build_services(settings, migrate=False, client=services.client, clock=clock)
    other.worker_id = "other-host:1"
    try:
        mine, theirs = claim_batch(services, clock.now), claim_batch(other, clock.now)
    finally:
        other.engine.dispose()
    assert len(mine) == BATCH and len(theirs) == 10 and not {r.id for r in mine} & {r.id for r in theirs}
    assert [r.id for r in mine] == sorted(r.id for r in mine)  # in delivery order
    claimed = Counter((r.status, r.claimed_by) for r in outbox(services))
    assert claimed == {("sending", services.worker_id[:64]): BATCH, ("sending", "other-host:1"): 10}


def test_rows_of_a_batch_held_too_long_are_handed_back_and_each_posted_once(services, slack_stub, clock, monkeypatch):
    import scheduler.delivery as delivery

    keys = queue(services, 7, threads=2)
    monkeypatch.setattr(delivery, "HOLD", -1.0)  # every claim already too old after its first row
    assert deliver_due(services) == 7  # one row per batch, the rest handed back each time
    assert posted_keys(slack_stub) == Counter(keys)
    rows = outbox(services)
    assert {r.status for r in rows} == {"sent"} and {r.attempts for r in rows} == {1}  # a hand-back is no attempt


def test_a_pass_that_dies_mid_batch_hands_back_what_it_never_posted(services, slack_stub, clock, monkeypatch):
    """Settled outcomes of the batch are written, the row whose post was under way stays claimed
    (unknown outcome: recovered after SENDING_TIMEOUT and looked for), the rest go back at once."""
    import pytest

    from scheduler.delivery import SENDING_TIMEOUT
    from scheduler.transports.slack import SlackTransport

    class Crash(Exception):
        pass

    keys = queue(services, 6, threads=3)
    send = SlackTransport.send
    calls = []

    def dies_on_the_fourth(self, *args):
        calls.append(1)
        if len(calls) == 4:
            send(self, *args)  # it reached Slack, then the process fell over before the outcome
            raise Crash
        return send(self, *args)

    monkeypatch.setattr(SlackTransport, "send", dies_on_the_fourth)
    with pytest.raises(Crash):
        deliver_due(services)
    monkeypatch.setattr(SlackTransport, "send", send)
    status = {r.key: r.status for r in outbox(services)}
    assert [status[k] for k in keys] == ["sent"] * 3 + ["sending"] + ["pending"] * 2
    assert deliver_due(services) == 2  # the two never posted go out at once
    clock.advance(seconds=SENDING_TIMEOUT.total_seconds() + 1)
    assert deliver_due(services) == 1  # found in the channel by its key, not posted again
    assert posted_keys(slack_stub) == Counter(keys)
    rows = {r.key: r for r in outbox(services)}
    assert {r.status for r in rows.values()} == {"sent"} and len(slack_stub.posts()) == 6
    for m in slack_stub.channel_messages(ALERT_CHANNEL):  # replies in their thread, under its first message
        i = keys.index(m["metadata"]["event_payload"]["key"])
        assert m.get("thread_ts") == (None if i < 3 else rows[keys[i % 3]].sent_ref)


def test_an_interview_recorded_while_a_batch_goes_out_cancels_that_batch_s_reminder(services, slack_stub, clock,
                                                                                   monkeypatch):
    """A batch is read when it is claimed; on a slow platform it is read again before a post when
    that read is older than FRESH (here: always), so an interview recorded while the batch's first
    post is on its way still stops the other child's overdue alert."""
    from scheduler import delivery
    from scheduler.sweep import evaluate
    from tests.clock_helpers import found, interview

    monkeypatch.setattr(delivery, "FRESH", 0)
    for ref in ("C001", "C002"):
        child(services, ref, "L")
        report(services, ref, clock.now - timedelta(hours=30))
        found(services, ref, clock.now - timedelta(hours=6))
    deliver_due(services)
    slack_stub.take()
    clock.advance(hours=72)
    assert evaluate(services, clock.now) == 2  # both interviews overdue, due in one batch
    slack_stub.hold("chat.postMessage")  # the first post reaches Slack and waits for its answer
    passes = threading.Thread(target=deliver_due, args=(services,))
    passes.start()
    assert slack_stub.wait_for("chat.postMessage")
    first = slack_stub.posts()[0]["metadata"]["event_payload"]["key"]
    other = next(r for r in outbox(services) if r.kind == "alert.ri_overdue" and r.key != first)
    with services.sessions() as s:  # the child of the alert not yet posted
        ref = s.get(Child, s.get(Episode, other.episode_id).child_id).child_ref
    interview(services, ref, clock.now)
    slack_stub.release("chat.postMessage")
    passes.join(30)
    rows = {r.key: r for r in outbox(services)}
    assert rows[first].status == "sent"
    assert (rows[other.key].status, rows[other.key].error) == ("cancelled", "interview recorded")
    assert len([p for p in slack_stub.posts() if "ri_overdue" in str(p.get("metadata"))]) == 1
