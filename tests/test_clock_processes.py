"""Real processes against one database: concurrent sweeps, and a process killed mid-delivery.

These run on whichever database the suite uses: SQLite by default, PostgreSQL when
TEST_DATABASE_URL is set (the case that matters for several replicas)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from scheduler.delivery import BATCH, SENDING_TIMEOUT, deliver_due
from scheduler.sweep import evaluate
from tests.clock_helpers import child, outbox, report
from tests.conftest import ADMIN_USER, ALERT_CHANNEL, BOT_TOKEN, DUTY_USER

ROOT = Path(__file__).resolve().parent.parent

DRIVER = """
import sys, time
from datetime import datetime
from pathlib import Path
from bot.context import build_services
from bot.settings import load_settings
from scheduler.sweep import sweep

at = datetime.fromisoformat(sys.argv[1])
barrier = Path(sys.argv[2])
services = build_services(load_settings(), migrate=False, clock=lambda: at)
with services.engine.connect():
    pass
Path(sys.argv[3]).touch()  # ready
while not barrier.exists():  # both processes start sweeping at the same moment
    time.sleep(0.002)
print(sweep(services, at).summary(), flush=True)
"""


def env(db_url: str, stub) -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_", "ALERT_"))}
    e.update(DATABASE_URL=db_url, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=stub.url, ALERT_CHANNEL=ALERT_CHANNEL,
             AUTHORIZED_USERS=DUTY_USER, ADMIN_USERS=ADMIN_USER, TIMEZONE="Europe/London", LOG_LEVEL="WARNING",
             PYTHONPATH=str(ROOT))
    return e


def tick(db_url, stub, at, cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "tick", "--at", at.isoformat()], cwd=cwd,
                            env=env(db_url, stub), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def seed_missing(services, clock, n: int, worker: str | None = None) -> None:
    for i in range(n):
        child(services, f"C{i:04d}", f"L{i}", worker=worker)
        report(services, f"C{i:04d}", clock.now - timedelta(minutes=i))
    deliver_due(services)


def test_two_processes_sweeping_at_once_post_each_alert_exactly_once(db_url, services, slack_stub, clock, tmp_path):
    seed_missing(services, clock, 20, worker="UWORKER001")
    slack_stub.take()
    slack_stub.latency = 0.01
    at = clock.now + timedelta(hours=80)  # every child: 24 h and 72 h alerts, to the channel and to the worker
    barrier = tmp_path / "go"
    ready = [tmp_path / f"ready{i}" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-c", DRIVER, at.isoformat(), str(barrier), str(r)], cwd=tmp_path,
                              env=env(db_url, slack_stub), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for r in ready]
    deadline = time.monotonic() + 60
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    barrier.touch()  # both have imported and connected: release them together
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs

    posts = Counter((p["channel"], p["text"]) for p in slack_stub.posts())
    assert len(posts) == 80  # 20 children x 2 thresholds x (channel + DM)
    assert set(posts.values()) == {1}, [k for k, v in posts.items() if v > 1]
    rows = [r for r in outbox(services) if r.kind.startswith("alert.")]
    assert len(rows) == 80 and {r.status for r in rows} == {"sent"}
    assert len({r.sent_ref for r in rows}) == 80
    assert len({r.claimed_by for r in rows}) == 2  # both processes delivered some of them
    enqueued = sorted(int(out.split(": ")[1].split()[0]) for out, _ in outs)
    assert sum(enqueued) == 40  # each alert stored by exactly one of the two


def test_a_process_killed_mid_delivery_loses_nothing_and_repeats_nothing(
        db_url, services, slack_stub, clock, tmp_path):
    """Killed in the middle of a batch (scheduler/delivery.py BATCH): two posts answered but their
    outcome not yet written, the third in flight, the rest of the batch claimed and not posted."""
    n = BATCH + 3  # a batch for the victim and three rows beyond it
    seed_missing(services, clock, n)
    slack_stub.take()
    at = clock.now + timedelta(hours=25)
    assert evaluate(services, at) == n  # n 24-hour alerts stored, none sent

    slack_stub.hold("chat.postMessage", after=2)  # Slack answers two posts, receives the third but does not answer yet
    victim = tick(db_url, slack_stub, at, tmp_path)
    assert slack_stub.wait_for("chat.postMessage", 3, timeout=60)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    slack_stub.release("chat.postMessage")
    reached = [p["text"] for p in slack_stub.posts()]
    assert len(reached) == 3

    # A restart within the claim timeout delivers everything else; the dead process's batch waits.
    survivor = tick(db_url, slack_stub, at + timedelta(minutes=1), tmp_path)
    assert survivor.wait(timeout=60) == 0, survivor.communicate()
    rows = {r.text: r.status for r in outbox(services) if r.kind.startswith("alert.")}
    assert list(rows.values()).count("sending") == BATCH and all(rows[t] == "sending" for t in reached)
    assert list(rows.values()).count("sent") == n - BATCH

    # After the timeout the stale claims are recovered: each is looked for in the channel by its
    # key, found (the three that reached Slack) or posted (the rest of the batch).
    later = tick(db_url, slack_stub, at + SENDING_TIMEOUT + timedelta(minutes=1), tmp_path)
    assert later.wait(timeout=60) == 0, later.communicate()
    rows = [r for r in outbox(services) if r.kind.startswith("alert.")]
    assert len(rows) == n and {r.status for r in rows} == {"sent"}  # nothing lost

    # Each alert is in the channel once, and the three that reached Slack were not posted again.
    seen = Counter(m["text"] for m in slack_stub.channel_messages(ALERT_CHANNEL) if "reported missing" not in m["text"])
    assert set(seen) == {r.text for r in rows}
    assert set(seen.values()) == {1}, seen
    posts = Counter(p["text"] for p in slack_stub.posts())
    assert all(posts[t] == 1 for t in reached) and set(posts.values()) == {1}


def test_tick_prints_a_one_line_summary(db_url, services, slack_stub, clock, tmp_path):
    seed_missing(services, clock, 1)
    slack_stub.take()
    proc = tick(db_url, slack_stub, clock.now + timedelta(hours=24), tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.strip().splitlines() == [f"sweep at {(clock.now + timedelta(hours=24)).isoformat()}: "
                                        "1 alert(s) due, 1 message(s) delivered"]
    bad = subprocess.run([sys.executable, "-m", "bot.cli", "tick", "--at", "tomorrow"], cwd=tmp_path,
                         env=env(db_url, slack_stub), capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "not an ISO 8601 time" in bad.stderr
