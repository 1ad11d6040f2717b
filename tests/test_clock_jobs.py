"""The background scheduler of `run` and `serve`: a sweep at start, and posts within a second."""
from __future__ import annotations

import time

from bot.context import utcnow
from scheduler.jobs import shutdown_background, start_scheduler
from store.alerts import health
from store.outbox import enqueue
from tests.conftest import ALERT_CHANNEL


def test_deliverer_posts_within_a_second_of_being_woken(services, slack_stub):
    services.clock = utcnow  # real time: this test is about the wall clock
    scheduler = start_scheduler(services, sweep_seconds=3600)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the first sweep runs at start
            with services.sessions() as s:
                if health(s).last_sweep is not None:
                    break
            time.sleep(0.05)
        else:
            raise AssertionError("no sweep at start")
        with services.sessions.begin() as s:
            enqueue(s, key="now", kind="test", channel=ALERT_CHANNEL, text="posted at once", now=services.now())
        started = time.monotonic()
        services.on_enqueued()  # what the router does after a command commits
        while not slack_stub.posts() and time.monotonic() - started < 2:
            time.sleep(0.01)
        assert [p["text"] for p in slack_stub.posts()] == ["posted at once"]
        assert time.monotonic() - started < 1.0
    finally:
        shutdown_background(scheduler)
