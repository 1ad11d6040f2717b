"""One definition of "overdue" (issue 10): at the deadline's instant the clock's overdue alert is
due, and `/missing status` and `/missing due` say overdue too; a minute before, all say due."""
from __future__ import annotations

from datetime import timedelta

from bot.protocol import clock as rules
from handlers.commands import run_command
from tests.clock_helpers import child, found, report
from tests.conftest import DUTY_USER


def ask(services, text: str) -> str:
    return str(run_command(services, user_id=DUTY_USER, channel_id="C1", text=text, is_admin=False).text)


def test_status_due_and_the_clock_agree_at_the_deadline(services, clock):
    child(services, "C61", "QX")
    report(services, "C61", clock.now - timedelta(hours=5))
    returned = clock.now - timedelta(hours=1)
    found(services, "C61", returned)
    deadline = rules.ri_deadline(returned, services.protocol)

    clock.set(deadline - timedelta(minutes=1))
    assert "overdue" not in ask(services, "due") and "due in" in ask(services, "due")
    assert "interview due by" in ask(services, "status C61")

    clock.set(deadline)
    assert rules.ri_overdue(returned, services.protocol, clock.now)
    assert "overdue by" in ask(services, "due")
    assert "interview overdue" in ask(services, "status C61")
    ep = rules.Ep(id=1, child_id=1, started_at=returned - timedelta(hours=4), returned_at=returned)
    assert [d.rule for d in rules.interview_due(ep, services.protocol, clock.now)] == [rules.RI_OVERDUE]
