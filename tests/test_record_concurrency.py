"""The record under concurrency: colleagues (and bot processes) recording the same child at once.

Two real processes, each running the Bolt app with many threads, send signed `/missing found` and
`/missing report` commands for one child at the same moment. Whatever the interleaving, each
episode is ended once, no two episodes overlap, at most one is open, and each accepted change posts
one channel line. The database itself refuses an overlapping episode written directly."""
from __future__ import annotations

from bot.messages import Person
import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from store.models import Child, Episode
from tests.clock_helpers import child, found, report
from tests.conftest import ALERT_CHANNEL, SIGNING_SECRET
from tests.test_clock_processes import env

DRIVER = """
import json, sys, threading, time
from datetime import datetime
from pathlib import Path
from handlers.slack.app import build_app
from bot.context import build_services
from bot.settings import load_settings
from tests.slack import dispatch, slash_body

at = datetime.fromisoformat(sys.argv[1])
go, ready, commands = Path(sys.argv[2]), Path(sys.argv[3]), json.loads(sys.argv[4])
services = build_services(load_settings(), migrate=False, clock=lambda: at)
app = build_app(services)
with services.engine.connect():
    pass
ready.touch()
while not go.exists():  # both processes start at the same moment
    time.sleep(0.002)
replies = [None] * len(commands)

def run(i):
    r = dispatch(app, slash_body(commands[i])); replies[i] = r.body or f"status {r.status} went wrong"

threads = [threading.Thread(target=run, args=(i,)) for i in range(len(commands))]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(replies))
"""


def live_episodes(services, ref="C1"):
    with services.sessions() as s:
        cid = s.scalar(select(Child.id).where(Child.child_ref == ref))
        return list(s.scalars(select(Episode).where(Episode.child_id == cid).order_by(Episode.started_at)))


def test_twenty_concurrent_found_and_report_from_two_processes(db_url, services, slack_stub, clock, tmp_path):
    child(services, "C1", "AB")
    report(services, "C1", clock.now - timedelta(hours=10))
    from scheduler.delivery import deliver_due

    deliver_due(services)
    slack_stub.take()
    # Ten returns at different times, ten new reports after all of them: exactly one return can
    # end the open episode, then exactly one report can open the next; every other is refused.
    founds = [f"found C1 at {(clock.now - timedelta(hours=9) + timedelta(minutes=7 * i)).astimezone(timezone.utc):%Y-%m-%dT%H:%M}Z"
              for i in range(10)]
    reports = [f"report C1 at {(clock.now - timedelta(hours=2) + timedelta(minutes=3 * i)).astimezone(timezone.utc):%Y-%m-%dT%H:%M}Z"
               for i in range(10)]
    batches = [founds[:5] + reports[:5], founds[5:] + reports[5:]]
    go = tmp_path / "go"
    ready = [tmp_path / f"ready{i}" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-c", DRIVER, clock.now.isoformat(), str(go), str(r), json.dumps(b)],
                              cwd=tmp_path, env={**env(db_url, slack_stub), "SLACK_SIGNING_SECRET": SIGNING_SECRET}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for r, b in zip(ready, batches)]
    deadline = time.monotonic() + 60
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    replies = [json.loads(body)["text"] if body.startswith("{") else body for out, _ in outs for body in json.loads(out)]
    assert all("went wrong" not in r and "busy" not in r for r in replies), (replies, outs[0][1][-3000:])


    eps = live_episodes(services)
    assert len(eps) == 2, [(e.started_at, e.returned_at) for e in eps]
    first, second = eps
    assert first.returned_at is not None and second.returned_at is None
    assert sum("returned" in r and "Return interview due" in r for r in replies) == 1
    assert sum(r.startswith(":rotating_light: Recorded") for r in replies) == 1

    deliver_due(services)
    lines = [p["text"] for p in slack_stub.posts() if p.get("channel") == ALERT_CHANNEL]
    assert sum("has returned" in t for t in lines) == 1, lines
    assert sum("reported missing" in t for t in lines) == 1, lines


def test_a_second_found_says_what_is_recorded_and_how_to_change_it(services, clock):
    from tests.clock_helpers import change
    from store import records
    from bot.protocol.rules import RuleError

    child(services, "C1", "AB")
    report(services, "C1", clock.now - timedelta(hours=3))
    found(services, "C1", clock.now - timedelta(hours=1))
    with pytest.raises(RuleError) as exc:
        with change(services, user="UOTHER0001") as ctx:
            records.record_found(ctx, records.require_child(ctx.session, "C1"), returned_at=clock.now)
    assert "already returned Thu 19 Nov 2026 09:00 GMT, recorded by @UDUTY00001" in exc.value.message
    assert Person("UDUTY00001") in exc.value.message  # the person, not a platform's mention
    assert "/missing amend" in exc.value.message
    [ep] = live_episodes(services)
    assert ep.returned_at == clock.now - timedelta(hours=1)


def _raw_episode(cid: int, start: datetime, end: datetime | None, **extra) -> Episode:
    return Episode(child_id=cid, started_at=start, returned_at=end, created_at=start, updated_at=start, **extra)


@pytest.mark.parametrize("second", [
    ("inside", timedelta(hours=1), timedelta(hours=2)),
    ("straddles the start", timedelta(hours=-1), timedelta(hours=1)),
    ("open, before", timedelta(hours=-5), None),
    ("open, inside", timedelta(hours=1), None),
])
def test_the_database_refuses_overlapping_episodes_written_directly(services, clock, second):
    child(services, "C1", "AB")
    t0 = clock.now - timedelta(days=2)
    with services.sessions.begin() as s:
        cid = s.scalar(select(Child.id))
        s.add(_raw_episode(cid, t0, t0 + timedelta(hours=3)))
    _, start, end = second
    with pytest.raises(IntegrityError):
        with services.sessions.begin() as s:
            s.add(_raw_episode(cid, t0 + start, t0 + end if end is not None else None))
    # Back to back is not an overlap; a withdrawn episode is not counted.
    with services.sessions.begin() as s:
        s.add(_raw_episode(cid, t0 + timedelta(hours=3), t0 + timedelta(hours=4)))
        s.add(_raw_episode(cid, t0 + timedelta(hours=1), t0 + timedelta(hours=2), withdrawn_at=clock.now))
    assert len(live_episodes(services)) == 2


def test_the_database_refuses_an_update_that_makes_an_overlap(services, clock):
    child(services, "C1", "AB")
    t0 = clock.now - timedelta(days=2)
    with services.sessions.begin() as s:
        cid = s.scalar(select(Child.id))
        s.add_all([_raw_episode(cid, t0, t0 + timedelta(hours=3)),
                   _raw_episode(cid, t0 + timedelta(hours=5), t0 + timedelta(hours=6))])
    with pytest.raises(IntegrityError):
        with services.sessions.begin() as s:
            first = s.scalars(select(Episode).order_by(Episode.started_at)).first()
            first.returned_at = t0 + timedelta(hours=5, minutes=30)


@pytest.mark.parametrize("change", ["restore a withdrawn episode", "move it to the other child"])
def test_the_database_refuses_the_other_updates_that_make_an_overlap(services, clock, change):
    """The overlap rule is about the child, the times and withdrawal; an update of any of them is checked."""
    child(services, "C1", "AB")
    child(services, "C2", "CD")
    t0 = clock.now - timedelta(days=2)
    with services.sessions.begin() as s:
        first, second = s.scalars(select(Child.id).order_by(Child.id)).all()
        s.add_all([_raw_episode(first, t0, t0 + timedelta(hours=3)),
                   _raw_episode(first, t0 + timedelta(hours=1), t0 + timedelta(hours=2), withdrawn_at=clock.now),
                   _raw_episode(second, t0 + timedelta(hours=1), t0 + timedelta(hours=2))])
    with pytest.raises(IntegrityError):
        with services.sessions.begin() as s:
            episodes = Episode.__table__  # Core: the sessions leave withdrawn episodes out of ORM reads
            if change == "restore a withdrawn episode":
                s.execute(update(episodes).where(episodes.c.withdrawn_at.is_not(None)).values(withdrawn_at=None))
            else:
                s.execute(update(episodes).where(episodes.c.child_id == second).values(child_id=first))
    assert len(live_episodes(services, "C1")) == len(live_episodes(services, "C2")) == 1  # nothing changed
