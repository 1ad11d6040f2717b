"""Exactly once on Teams with real processes: four deliverers at once, and one killed mid-delivery.

Rows addressed to a Teams channel (stored by `alerts here`) and to a worker's personal chat go
through the real deliverer and the Teams transport, in separate processes, to the fake Bot
Connector. SQLite by default, PostgreSQL when TEST_DATABASE_URL is set."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from bot.platforms import TEAMS

from scheduler.delivery import BATCH, SENDING_TIMEOUT
from store.models import Outbox
from store.outbox import enqueue
from store.teams import TeamsConversation
from tests.conftest import ADMIN_USER, ALERT_CHANNEL, BOT_TOKEN, DUTY_USER
from tests.teams.connector import Failure
from tests.teams.fixtures import (  # noqa: F401 - fixtures
    CHANNEL, WORKER, WORKER_ID, _close_teams_clients, connector, issuer, settings, teams_settings,
)

ROOT = Path(__file__).resolve().parent.parent

DRIVER = """
import sys, time
from datetime import datetime
from pathlib import Path
from bot.context import build_services
from bot.settings import load_settings
from scheduler.delivery import deliver_due

at = datetime.fromisoformat(sys.argv[1])
barrier = Path(sys.argv[2])
services = build_services(load_settings(), migrate=False, clock=lambda: at)
with services.engine.connect():
    pass
Path(sys.argv[3]).touch()  # ready
while not barrier.exists():  # all start delivering at the same moment
    time.sleep(0.002)
print(deliver_due(services, at), flush=True)
"""


def env(db_url: str, stub, issuer) -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_", "ALERT_", "TEAMS_"))}
    e.update(DATABASE_URL=db_url, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=stub.url, ALERT_CHANNEL=ALERT_CHANNEL,
             AUTHORIZED_USERS=DUTY_USER, ADMIN_USERS=ADMIN_USER, TIMEZONE="Europe/London", LOG_LEVEL="WARNING",
             PYTHONPATH=str(ROOT))
    e.update({k.upper(): v for k, v in teams_settings(issuer).items()})
    return e


def seed(services, connector, issuer, clock, n: int) -> None:
    with services.sessions.begin() as s:
        s.add(TeamsConversation(kind="channel", conversation_id=CHANNEL, service_url=connector.url,
                                tenant_id=issuer.tenant_id, alerts=True, created_at=clock(), updated_at=clock()))
        s.add(TeamsConversation(kind="personal", conversation_id="a:1fake-worker-chat", service_url=connector.url,
                                tenant_id=issuer.tenant_id, aad_id=WORKER_ID, teams_user_id=WORKER[0],
                                name=WORKER[1], created_at=clock(), updated_at=clock()))
        for i in range(n):
            for to in (CHANNEL, WORKER_ID):
                enqueue(s, key=f"a{i}:{to}", kind="alert.long_missing", channel=to, platform=TEAMS,
                        text=f"C{i:04d} (L{i}) missing for 24 hours", now=clock())


def rows(services) -> list[Outbox]:
    with services.sessions() as s:
        return list(s.scalars(select(Outbox).order_by(Outbox.id)))


def sent_texts(connector) -> Counter:
    out = Counter()
    for c in connector.calls:
        if c.status < 300 and "/activities" in c.path:
            card = c.body["attachments"][0]["content"]
            out[(c.conversation_id, card["body"][0]["text"])] += 1
    return out


def test_four_deliverers_at_once_post_each_row_exactly_once(db_url, services, slack_stub, connector, issuer, clock,
                                                            tmp_path):
    n = BATCH // 2 + 5  # 2n rows: more than one process's batch (scheduler/delivery.py BATCH)
    seed(services, connector, issuer, clock, n)
    barrier = tmp_path / "go"
    ready = [tmp_path / f"ready{i}" for i in range(4)]
    procs = [subprocess.Popen([sys.executable, "-c", DRIVER, clock().isoformat(), str(barrier), str(r)], cwd=tmp_path,
                              env=env(db_url, slack_stub, issuer), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for r in ready]
    deadline = time.monotonic() + 60
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    barrier.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outs
    assert sum(int(out.strip()) for out, _ in outs) == 2 * n
    posts = sent_texts(connector)
    assert len(posts) == 2 * n and set(posts.values()) == {1}
    assert {r.status for r in rows(services)} == {"sent"}
    assert len({r.claimed_by for r in rows(services)}) >= 2  # more than one process delivered


def test_a_deliverer_killed_mid_delivery_loses_nothing_and_repeats_at_most_the_one_in_flight(
        db_url, services, slack_stub, connector, issuer, clock, tmp_path):
    seed(services, connector, issuer, clock, 3)
    # One batch claims all six rows; two posts are answered, the third is taken but its answer is slow.
    connector.fail_next(Failure(200, accept=True), Failure(200, accept=True), Failure(200, delay=3.0, accept=True))
    barrier = tmp_path / "go"
    barrier.touch()
    victim = subprocess.Popen([sys.executable, "-c", DRIVER, clock().isoformat(), str(barrier), str(tmp_path / "r")],
                              cwd=tmp_path, env=env(db_url, slack_stub, issuer), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while connector.received < 3 and time.monotonic() < deadline:  # the third post reached Teams, unanswered
        time.sleep(0.01)
    # Teams keeps no history to look in: each post's outcome is written at once, not with the batch's.
    assert connector.wait_for(2)
    while [r.status for r in rows(services)].count("sent") < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [r.status for r in rows(services)].count("sent") == 2
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert connector.wait_for(3)
    claimed = [r for r in rows(services) if r.status == "sending"]
    assert len(claimed) == 4  # the one in flight (rows go in id order) and three never posted
    in_flight = claimed[0]
    # After the claim timeout, another deliverer recovers the row and delivers everything.
    later = clock() + SENDING_TIMEOUT + timedelta(minutes=1)
    survivor = subprocess.run([sys.executable, "-c", DRIVER, later.isoformat(), str(barrier), str(tmp_path / "r2")],
                              cwd=tmp_path, env=env(db_url, slack_stub, issuer), capture_output=True, text=True,
                              timeout=120)
    assert survivor.returncode == 0, survivor.stderr
    assert {r.status for r in rows(services)} == {"sent"}  # nothing lost
    posts = sent_texts(connector)
    assert len(posts) == 6
    # Teams cannot be searched for the row's earlier copy: the one in flight may repeat, nothing else.
    assert sorted(posts.values()) in ([1] * 6, [1] * 5 + [2]), posts
    assert all(times == 1 or text == in_flight.text for (_, text), times in posts.items())
