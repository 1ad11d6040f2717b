"""Corrections through `/missing withdraw | amend` (real Bolt, signed requests, fake Slack), late
reports and their thresholds, and one rule for references and dates."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from scheduler.sweep import sweep
from store.alerts import Alert
from store.db import INCLUDE_WITHDRAWN
from store.models import AuditRecord, Episode, Outbox
from tests.clock_helpers import alert_posts, outbox
from tests.conftest import ADMIN_USER, ALERT_CHANNEL, DUTY_USER
from tests.slack import command

CHILD = "child C1 label AB dob 2010-02-03 gender female placement foster_care looked-after yes"
COLLEAGUE = "UCOLLEAGUE"
MANAGER = "UMANAGER01"


def say(app, text, user=DUTY_USER) -> str:
    return command(app, text, user_id=user)["text"]


def channel_lines(stub) -> list[str]:
    return [p["text"] for p in stub.posts() if p.get("channel") == ALERT_CHANNEL]


def all_episodes(services) -> list[Episode]:
    with services.sessions() as s:
        return list(s.scalars(select(Episode).order_by(Episode.started_at)
                              .execution_options(**{INCLUDE_WITHDRAWN: True})))


def figures(services, clock):
    from bot.cli_figures import build_report  # the same code `missing-bot report` runs

    return build_report(services, date(2026, 10, 1), date(2026, 11, 30))


def test_withdraw_keeps_the_episode_for_the_audit_and_takes_it_out_of_everything(app, services, slack_stub, clock):
    say(app, CHILD)
    t0 = clock.now
    for hours in (72, 48):  # two earlier episodes this month, each with its interview
        say(app, f"report C1 at {(t0 - timedelta(hours=hours)).isoformat()}")
        say(app, f"found C1 at {(t0 - timedelta(hours=hours - 2)).isoformat()}")
        say(app, "interview C1 completed")
    say(app, "report C1 at 2h ago")  # the third in 30 days: persistence alert
    assert any("3 episodes in 30 days" in t or "3 in 30" in t for t in channel_lines(slack_stub)), channel_lines(slack_stub)
    say(app, "found C1 at 1h ago")
    slack_stub.take()

    reply = say(app, "withdraw C1 latest reason recorded against the wrong child")
    assert reply.startswith(":wastebasket: Withdrawn: C1 (AB)'s episode from Thu 19 Nov 2026 08:00 GMT")
    [line] = channel_lines(slack_stub)
    assert "C1 (AB): the episode from Thu 19 Nov 2026 08:00 GMT was withdrawn" in line
    assert "wrong child" not in line  # the reason stays out of the channel

    eps = all_episodes(services)
    assert len(eps) == 3 and eps[-1].withdrawn_reason == "recorded against the wrong child"
    assert eps[-1].withdrawn_by == DUTY_USER
    status = say(app, "status C1")
    assert "*2* in the last 30 days" in status and "08:00" not in status
    assert "C1" not in say(app, "due")  # its interview is no longer owed
    # pending reminders for it are cancelled, and the clock never raises it again
    clock.advance(days=3)
    sweep(services)
    assert alert_posts(slack_stub) == []
    with services.sessions() as s:
        audit = s.scalars(select(AuditRecord).where(AuditRecord.action == "episode.withdraw")).one()
    assert audit.before["withdrawn_at"] is None and audit.after["withdrawn_reason"] == "recorded against the wrong child"


def test_withdrawn_episodes_leave_the_figures_and_the_returns(app, services, clock):
    from store.figures import ssda903_rows, started_between

    say(app, CHILD)
    say(app, "report C1 at 2026-11-10 10:00")
    say(app, "found C1 at 2026-11-10 18:00")
    say(app, "report C1 at 2026-11-12 10:00")
    say(app, "found C1 at 2026-11-12 18:00")
    start, end = datetime(2026, 11, 1, tzinfo=timezone.utc), datetime(2026, 11, 30, tzinfo=timezone.utc)
    with services.sessions() as s:
        assert len(started_between(s, start, end)) == 2
        rows, _ = ssda903_rows(s, 2026, services.zone)
    assert len(rows) == 2
    say(app, "withdraw C1 12/11/2026 10:00 reason duplicate of the 10 November report")
    with services.sessions() as s:
        assert [f.started_at.day for f in started_between(s, start, end)] == [10]
        rows, _ = ssda903_rows(s, 2026, services.zone)
    assert [r["MIS_START"] for r in rows] == ["10/11/2026"]
    # and it no longer blocks a correct episode at the same time
    assert "Recorded" in say(app, "report C1 at 2026-11-12 10:00 returned 2026-11-12 11:00")


@pytest.fixture
def team_app(db_url, slack_stub, clock):
    """The Bolt app with a colleague (authorised user) and a manager besides the duty worker."""
    from handlers.slack.app import build_app
    from bot.context import build_services
    from scheduler.delivery import deliver_due
    from slack_sdk import WebClient
    from tests.conftest import make_settings

    settings = make_settings(db_url, slack_stub, authorized_users=[DUTY_USER, COLLEAGUE], manager_users=[MANAGER])
    client = WebClient(token=settings.slack_bot_token, base_url=slack_stub.url, timeout=5)
    svc = build_services(settings, migrate=False, client=client, clock=clock)
    svc.on_enqueued = lambda: deliver_due(svc)
    yield build_app(svc), svc
    svc.engine.dispose()


def test_who_may_correct(team_app, clock):
    app, services = team_app
    say(app, CHILD)
    say(app, "report C1 at 3h ago")
    refusal = say(app, "withdraw C1 latest reason typo", user=COLLEAGUE)
    assert "Only the person who recorded this episode (within 24 hours of recording it), a manager" in refusal
    assert "corrected" in say(app, "amend C1 latest start 4h ago")  # the recorder, within 24 hours
    clock.advance(hours=25)  # the recorder's 24 hours are over
    refusal = say(app, "amend C1 latest start 30h ago")
    assert "Only the person who recorded this episode" in refusal
    assert all(e.withdrawn_at is None for e in all_episodes(services))
    assert "corrected" in say(app, "amend C1 latest start 30h ago", user=MANAGER)
    clock.advance(days=10)
    assert "Withdrawn" in say(app, "withdraw C1 latest reason police report was for another child", user=MANAGER)
    assert all_episodes(services)[0].withdrawn_by == MANAGER


def test_amend_return_moves_the_interview_clock_without_repeating_what_was_posted(app, services, slack_stub, clock):
    say(app, CHILD)
    t0 = clock.now
    say(app, "report C1 at 5h ago")
    say(app, "found C1 at now")
    clock.set(t0 + timedelta(hours=48))
    sweep(services)
    assert [p["text"] for p in alert_posts(slack_stub)] == ["Return interview due in 24 h: C1 (AB)"]
    slack_stub.take()

    # Two days on, the recorder may no longer correct it; a manager or admin may.
    reply = say(app, f"amend C1 latest returned {(t0 + timedelta(hours=10)).isoformat()}", user=ADMIN_USER)
    assert "Return interview now due by Sun 22 Nov 2026 20:00 GMT" in reply
    assert any("return time corrected from Thu 19 Nov 2026 10:00 GMT to Thu 19 Nov 2026 20:00 GMT" in t
               for t in channel_lines(slack_stub))
    slack_stub.take()
    clock.set(t0 + timedelta(hours=72))  # the old deadline: nothing
    sweep(services)
    clock.set(t0 + timedelta(hours=81, minutes=59))
    sweep(services)
    assert alert_posts(slack_stub) == []
    clock.set(t0 + timedelta(hours=82))  # the new one: overdue once
    sweep(services)
    assert [p["text"] for p in alert_posts(slack_stub)] == ["Return interview overdue: C1 (AB)"]
    with services.sessions() as s:
        a = s.scalars(select(AuditRecord).where(AuditRecord.action == "episode.amend.returned")).one()
    assert a.before["returned_at"] != a.after["returned_at"]


def test_amend_start_moves_an_unsent_long_missing_alert(app, services, slack_stub, clock):
    from scheduler.sweep import evaluate

    say(app, CHILD)
    t0 = clock.now
    say(app, "report C1 at 23h ago")
    slack_stub.take()
    clock.set(t0 + timedelta(hours=1))
    assert evaluate(services, clock.now) == 1  # the 24 h alert is stored, not yet posted
    # The police report said the child left later than first recorded: the alert is not due yet.
    say(app, f"amend C1 latest start {(t0 - timedelta(hours=20)).isoformat()}")
    assert alert_posts(slack_stub) == []
    with services.sessions() as s:
        assert s.scalar(select(Alert.id)) is None
    clock.set(t0 + timedelta(hours=3, minutes=59))
    sweep(services)
    assert alert_posts(slack_stub) == []
    clock.set(t0 + timedelta(hours=4))
    sweep(services)
    posts = alert_posts(slack_stub)
    assert len(posts) == 1 and "24" in posts[0]["text"]


def test_amend_refuses_an_overlap_and_a_return_before_the_start(app, services, clock):
    say(app, CHILD)
    say(app, "report C1 at 2026-11-10 10:00")
    say(app, "found C1 at 2026-11-10 18:00")
    say(app, "report C1 at 2026-11-12 10:00")
    say(app, "found C1 at 2026-11-12 18:00")
    reply = say(app, "amend C1 10/11/2026 10:00 returned 2026-11-12 11:00")
    assert "overlap another episode" in reply
    reply = say(app, "amend C1 latest returned 2026-11-12 09:00")
    assert "cannot come before" in reply
    reply = say(app, "amend C1 11/11/2026 10:00 start 2026-11-11 09:00")
    assert "no episode starting" in reply and "Thu 12 Nov 2026 10:00 GMT" in reply
    assert "Usage" in say(app, "amend C1 latest")


def test_a_late_report_inside_the_window_alerts_once_and_an_old_one_never(app, services, slack_stub, clock):
    say(app, CHILD)
    say(app, "report C1 at 2026-11-10 10:00")
    say(app, "found C1 at 2026-11-10 18:00")
    say(app, "report C1 at 2026-11-15 10:00")
    say(app, "found C1 at 2026-11-15 18:00")
    slack_stub.take()
    # A police notification arrives late: an episode between the two. Three in 30 days, still.
    reply = say(app, "report C1 at 2026-11-12 21:00 returned 2026-11-13 07:30")
    assert "Recorded an earlier episode" in reply
    persistence = [p for p in alert_posts(slack_stub) if "30 days" in p["text"]]
    assert len(persistence) == 1
    sweep(services)
    clock.advance(minutes=5)
    sweep(services)
    assert len([p for p in alert_posts(slack_stub) if "30 days" in p["text"]]) == 1

    # Another child: three episodes in early July, one reported only now. The crossing left both
    # windows long ago: no alert, though the episode counts in figures for the period.
    say(app, "child C2 label CD looked-after yes")
    say(app, "report C2 at 2026-07-01 10:00 returned 2026-07-01 18:00")
    say(app, "report C2 at 2026-07-05 10:00 returned 2026-07-05 18:00")
    slack_stub.take()
    assert "Recorded an earlier episode" in say(app, "report C2 at 2026-07-03 10:00 returned 2026-07-03 18:00")
    sweep(services)
    assert [p for p in alert_posts(slack_stub) if "C2" in p["text"]] == []
    assert len([e for e in all_episodes(services) if e.started_at.month == 7]) == 3


def test_one_rule_for_dates_everywhere(app, services, clock):
    say(app, CHILD)
    assert "before 1900" in say(app, "report C1 at 1850-06-01 10:00")
    assert "before the child's date of birth (03/02/2010)" in say(app, "report C1 at 2009-06-01 10:00 returned 2009-06-01 12:00")
    say(app, "report C1 at 2026-11-10 10:00 returned 2026-11-10 12:00")
    assert "before that date of birth" in say(app, "child C1 dob 2026-11-11")
    assert all(e.started_at.year == 2026 for e in all_episodes(services))


def test_import_uses_the_same_rule_for_case_references(services, clock):
    from bot.protocol.csvimport import Problems, parse_csv

    csv_text = ("child_ref,started_at,returned_at\n"
                "c-lower,2026-10-01 10:00,2026-10-01 12:00\n"
                "C SPACE 1,2026-10-01 10:00,\n"
                "=cmd|' /C calc'!A0,2026-10-01 10:00,\n"
                "<!channel>,2026-10-01 10:00,\n")
    try:
        parse_csv(csv_text.encode(), services.zone, clock.now)
        raise AssertionError("the file was accepted")
    except Problems as exc:
        problems = exc.problems
    assert [p.split(",")[0] for p in problems] == ["line 3", "line 4", "line 5"], problems
    assert all("is not a case reference" in p for p in problems), problems
    [row] = parse_csv(csv_text.splitlines()[0].encode() + b"\n" + csv_text.splitlines()[1].encode(), services.zone, clock.now)
    assert row.child_ref == "C-LOWER"  # the reference /missing status c-lower reaches
