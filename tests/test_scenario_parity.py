"""The same scenario through Slack and through the console ends in the same database state
(issue 10): report -> 24 h alert -> acknowledge -> found -> reminder -> overdue -> interview.

Slack is driven with signed requests through Bolt, the real WebClient and the fake Web API; the
console through its own text backend. Both use the same router, action table, outbox and clock."""
from __future__ import annotations

import io
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

from sqlalchemy import create_engine, select, text

from bot.console import Console
from handlers.clock import ACK
from scheduler.sweep import sweep
from store.alerts import Alert
from store.db import upgrade
from store.models import AuditRecord, Child, Episode, Outbox
from tests.conftest import DUTY_USER, make_settings
from tests.slack import block_actions_body, command, dispatch

UTC = timezone.utc
START = datetime(2026, 11, 19, 8, 0, tzinfo=UTC)  # went missing at 08:00 GMT


def local(dt: datetime) -> str:
    return f"{dt:%Y-%m-%d %H:%M}"  # GMT in November: UTC and London agree


def scenario(drive, clock) -> None:
    clock.set(START + timedelta(hours=2))
    drive.command("child C77 label QZ looked-after yes placement foster_care")
    drive.command(f"report C77 at {local(START)} risk medium")
    clock.set(START + timedelta(hours=24, minutes=1))
    drive.tick()  # the 24 h alert
    drive.acknowledge()
    returned = START + timedelta(hours=26)
    clock.set(returned + timedelta(minutes=30))
    drive.command(f"found C77 at {local(returned)} location Bus station")
    clock.set(returned + timedelta(hours=48, minutes=1))
    drive.tick()  # the reminder, 24 h before the deadline
    clock.set(returned + timedelta(hours=72, minutes=1))
    drive.tick()  # overdue
    clock.set(returned + timedelta(hours=75))
    drive.command(f"interview C77 completed at {local(returned + timedelta(hours=74))} by Jo")
    drive.tick()


class SlackDriver:
    def __init__(self, app, services, stub):
        self.app, self.services, self.stub = app, services, stub

    def command(self, line: str) -> None:
        assert "went wrong" not in command(self.app, line).get("text", "")

    def tick(self) -> None:
        sweep(self.services, self.services.now())

    def acknowledge(self) -> None:
        for post in reversed(self.stub.posts("chat.postMessage")):
            for block in post.get("blocks") or []:
                for element in block.get("elements") or []:
                    if element.get("action_id") == ACK:
                        resp = dispatch(self.app, block_actions_body(ACK, element["value"], message_ts=post["ts"]
                                                                     if "ts" in post else "1.1"))
                        assert resp.status == 200
                        self.services.on_enqueued()
                        return
        raise AssertionError("no alert with an Acknowledge button was posted")


class ConsoleDriver:
    def __init__(self, console: Console):
        self.console = console

    def command(self, line: str) -> None:
        assert "went wrong" not in str(self.console.command(line).text)

    def tick(self) -> None:
        self.console.tick()

    def acknowledge(self) -> None:
        numbers = [n for n, (action, _) in enumerate(self.console.text.buttons, 1) if action == ACK]
        assert numbers, "the console showed no Acknowledge button"
        self.console.press(str(numbers[-1]))


def state(url: str) -> dict:
    """The record, the clock's alerts, what was queued and delivered, and the audit trail, without ids
    or addresses (the console's team channel is its own)."""
    engine = create_engine(url)
    with engine.connect() as c:
        out = {
            "children": sorted(c.execute(select(Child.child_ref, Child.label, Child.looked_after)).all()),
            "episodes": sorted(c.execute(select(
                Episode.started_at, Episode.returned_at, Episode.risk_grade, Episode.found_location, Episode.ri_outcome,
                Episode.ri_at, Episode.ri_by, Episode.reported_by, Episode.returned_by, Episode.ri_recorded_by)).all()),
            "alerts": sorted(c.execute(select(Alert.rule, Alert.variant, Alert.due_at, Alert.acknowledged_at,
                                              Alert.acknowledged_by)).all()),
            "outbox": Counter((k, s) for k, s in c.execute(select(Outbox.kind, Outbox.status))),
            "audit": sorted(c.execute(select(AuditRecord.action, AuditRecord.entity, AuditRecord.actor,
                                             AuditRecord.at)).all()),
        }
    engine.dispose()
    return out


def second_database(tmp_path, pg_server_url) -> str:
    if pg_server_url is None:
        url = f"sqlite:///{tmp_path / 'console.sqlite3'}"
    else:
        name = f"mb_console_{uuid.uuid4().hex[:12]}"
        admin = create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = f"{pg_server_url.rpartition('/')[0]}/{name}"
    upgrade(url)
    return url


def drop_database(url: str, pg_server_url) -> None:
    if pg_server_url is None:
        return  # a file in the test's own directory
    admin = create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)'))
    admin.dispose()


def test_slack_and_the_console_end_in_the_same_state(app, services, slack_stub, clock, db_url, tmp_path, pg_server_url):
    scenario(SlackDriver(app, services, slack_stub), clock)
    slack_state = state(db_url)

    url = second_database(tmp_path, pg_server_url)
    clock.set(START)
    console = Console(make_settings(url, slack_stub), DUTY_USER, io.StringIO(), clock=clock)
    try:
        scenario(ConsoleDriver(console), clock)
    finally:
        console.close()
    try:
        console_state = state(url)
    finally:
        drop_database(url, pg_server_url)

    assert slack_state == console_state
    # and the scenario did what it says: every step left its mark
    [episode] = slack_state["episodes"]
    assert episode.returned_at is not None and episode.ri_outcome == "completed" and episode.ri_by == "Jo"
    rules = [(a.rule, a.variant, a.acknowledged_by) for a in slack_state["alerts"]]
    assert ("long_missing", "24h", DUTY_USER) in rules
    assert {"ri_reminder", "ri_overdue"} <= {r for r, _, _ in rules}
    assert slack_state["outbox"][("update.alert", "sent")] >= 1  # the acknowledged alert updated in place
    assert all(status == "sent" for _, status in slack_state["outbox"])
