"""`/missing` end to end through Bolt: signed requests in, real WebClient to the fake Slack out."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from store.models import AuditRecord, Child, Episode, Outbox
from tests.conftest import ADMIN_USER, ALERT_CHANNEL, DUTY_USER, STRANGER
from tests.slack import command, dispatch, slash_body

CHILD = "child C1234 label JB dob 2011-04-23 gender female placement foster_care looked-after yes"


def episodes(services) -> list[Episode]:
    with services.sessions() as s:
        return list(s.scalars(select(Episode).order_by(Episode.started_at)))


def audit_actions(services) -> list[str]:
    with services.sessions() as s:
        return list(s.scalars(select(AuditRecord.action).order_by(AuditRecord.id)))


def channel_posts(slack_stub) -> list[str]:
    return [p["text"] for p in slack_stub.posts() if p.get("channel") == ALERT_CHANNEL]


def test_report_found_interview_round_trip(app, services, slack_stub, clock):
    assert "Recorded C1234 (JB)" in command(app, CHILD)["text"]
    reply = command(app, "report C1234 at 09:30 from Oak House risk medium police PR/2026/0117")
    assert reply["response_type"] == "ephemeral"
    assert "C1234 (JB) missing since Thu 19 Nov 2026 09:30 GMT" in reply["text"]
    assert "Oak House" in reply["text"] and "PR/2026/0117" in reply["text"]

    clock.advance(hours=5)
    reply = command(app, "found C1234 at 14:00 location Bus station")
    assert "Return interview due by Sun 22 Nov 2026 14:00 GMT" in reply["text"]

    clock.advance(hours=20)
    reply = command(app, "interview C1234 completed by Jo")
    assert "completed" in reply["text"] and "within timescale" in reply["text"]

    [ep] = episodes(services)
    assert ep.started_at == datetime(2026, 11, 19, 9, 30, tzinfo=timezone.utc)
    assert ep.returned_at == datetime(2026, 11, 19, 14, 0, tzinfo=timezone.utc)
    assert (ep.missing_from, ep.risk_grade, ep.police_ref, ep.found_location) == ("Oak House", "medium", "PR/2026/0117", "Bus station")
    assert (ep.ri_outcome, ep.ri_by, ep.reported_by) == ("completed", "Jo", DUTY_USER)
    assert audit_actions(services) == ["child.create", "episode.report", "episode.found", "episode.interview"]


def test_each_change_posts_one_line_with_reference_and_label_only(app, services, slack_stub):
    command(app, CHILD)
    command(app, "report C1234 at 1h ago from 12 Acacia Avenue risk high police PR/9")
    command(app, "risk C1234 medium")
    command(app, "found C1234")
    posts = channel_posts(slack_stub)
    changes = [p for p in posts if "reported missing" in p or "re-graded" in p or "has returned" in p]
    assert len(changes) == 3
    for text in posts:
        assert "C1234 (JB)" in text
        # Details stay out of the channel: place, police reference, date of birth.
        for secret in ("Acacia", "PR/9", "2011", "23/04"):
            assert secret not in text
    # Later lines about the episode go in the thread of the first.
    threaded = [p for p in slack_stub.posts() if p.get("thread_ts")]
    assert threaded, "later messages about the episode should be threaded"


def test_refusals_say_what_and_change_nothing(app, services, slack_stub, clock):
    command(app, CHILD)
    cases = {
        "report C1234 at tomorrow 10:00": "For example",
        "report C1234 at 2026-11-19 12:00": "future",
        "report C1234 risk extreme": "no_apparent_risk, low, medium, high",
        "child C1234 gender robot": "male, female, transgender, other, unknown",
        "child C1234 placement castle": "la_residential",
        "found C1234": "no open episode",
        "interview C1234 completed": "no ended episode",
        "report": None,  # opens the form instead
    }
    before = audit_actions(services)
    for text, expected in cases.items():
        reply = command(app, text)
        if expected:
            assert expected in reply["text"], (text, reply["text"])
            assert reply["text"].startswith(":warning:"), text
    assert audit_actions(services) == before
    assert episodes(services) == []

    command(app, "report C1234 at 08:00")
    reply = command(app, "report C1234")
    assert "already recorded missing" in reply["text"]
    reply = command(app, "found C1234 at 07:00")
    assert "cannot come before" in reply["text"]
    assert len(episodes(services)) == 1 and episodes(services)[0].returned_at is None


def test_episodes_never_overlap(app, services, clock):
    command(app, CHILD)
    command(app, "report C1234 at 2026-11-18 20:00")
    command(app, "found C1234 at 2026-11-19 02:00")
    reply = command(app, "report C1234 at 2026-11-18 23:00")
    assert "overlap another episode of this child (18/11/2026 20:00 GMT to 19/11/2026 02:00 GMT)" in reply["text"]
    # An open episode before a later one would overlap it: the reply asks for the return time.
    reply = command(app, "report C1234 at 2026-11-17 23:00")
    assert "later episode" in reply["text"] and "returned" in reply["text"]
    reply = command(app, "report C1234 at 2026-11-17 23:00 returned 2026-11-18 21:00")
    assert "overlap another episode" in reply["text"]
    assert "Recorded" in command(app, "report C1234 at 2026-11-19 03:00")["text"]
    assert len(episodes(services)) == 2


def test_double_submission_makes_one_episode(app, services):
    command(app, CHILD)
    body = slash_body("report C1234 at 08:00")
    first = dispatch(app, body)
    second = dispatch(app, body)
    assert first.status == second.status == 200
    assert len(episodes(services)) == 1
    assert "already" in second.body


def test_unauthorised_user_is_refused_without_naming_a_child(app, services, slack_stub):
    command(app, CHILD)
    command(app, "report C1234")
    reply = command(app, "status C1234", user_id=STRANGER)
    assert "not authorised" in reply["text"]
    assert "C1234" not in reply["text"] and "JB" not in reply["text"]
    assert len(episodes(services)) == 1


def test_usergroup_members_are_authorised(services, slack_stub):
    from handlers.slack.app import build_app

    services.settings.authorized_usergroups = ["S0TEAM0001"]
    slack_stub.usergroup_members["S0TEAM0001"] = [STRANGER]
    app = build_app(services)
    assert "No child is recorded missing" in command(app, "open", user_id=STRANGER)["text"]
    assert "not authorised" in command(app, "open", user_id="UOTHER0001")["text"]


def test_views_status_open_due(app, services, clock):
    command(app, CHILD)
    command(app, "child C2000 label KT looked-after no placement home")
    command(app, "report C1234 at 2026-11-10 20:00")
    command(app, "found C1234 at 2026-11-11 06:00")
    command(app, "report C1234 at 2026-11-17 20:00")
    command(app, "found C1234 at 2026-11-18 08:00")
    command(app, "report C2000 at 2026-11-19 07:00")
    command(app, "report C1234 at 1h ago")

    status = command(app, "status C1234")["text"]
    assert "Missing now" in status and "*3* in the last 30 days" in status
    assert "interview overdue" in status and "interview due by Sat 21 Nov 2026 08:00 GMT" in status

    open_text = command(app, "open")["text"]
    assert open_text.index("C2000") < open_text.index("C1234"), "longest first"

    due = command(app, "due")["text"]
    assert due.index("C1234") > 0 and "overdue by" in due and "due in" in due
    assert due.index("overdue") < due.index("due in"), "soonest first"


def test_help_lists_every_subcommand(app):
    text = command(app, "help")["text"]
    for word in ("report", "found", "interview", "child", "risk", "status", "open", "due", "help"):
        assert f"/missing {word}" in text
    assert "yesterday 22:15" in text


def test_unknown_subcommand(app):
    assert "I don't know `dance`" in command(app, "dance")["text"]


def test_times_are_shown_in_london_time_in_summer(app, services, clock):
    clock.set(datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc))
    command(app, CHILD)
    reply = command(app, "report C1234 at 12:30")
    assert "12:30 BST" in reply["text"]
    assert episodes(services)[0].started_at == datetime(2026, 7, 1, 11, 30, tzinfo=timezone.utc)


def test_audit_log_is_append_only(app, services):
    from sqlalchemy import delete, update
    from sqlalchemy.exc import DatabaseError

    command(app, CHILD)
    with pytest.raises(DatabaseError):
        with services.sessions.begin() as s:
            s.execute(update(AuditRecord).values(actor="someone-else"))
    with pytest.raises(DatabaseError):
        with services.sessions.begin() as s:
            s.execute(delete(AuditRecord))
    assert audit_actions(services) == ["child.create"]


def test_unexpected_error_gives_a_reference_not_a_trace(app, services, monkeypatch, caplog):
    from store import records

    command(app, CHILD)

    def broken(*args, **kwargs):
        raise RuntimeError("C1234 JB secret detail")

    monkeypatch.setattr(records, "report", broken)
    reply = command(app, "report C1234")
    assert "something went wrong (ref" in reply["text"]
    assert "Traceback" not in reply["text"] and "secret" not in reply["text"]
    assert "secret detail" not in caplog.text and "JB" not in caplog.text
    assert "RuntimeError" in caplog.text


def test_status_counts_calendar_days_like_the_alerts_across_the_clock_change(app, services, clock):
    # Now: Thu 19 Nov 2026 10:00 GMT. Thirty calendar days back is Tue 20 Oct 10:00 BST (09:00 UTC);
    # thirty elapsed days back would be 10:00 UTC. An episode at 10:30 BST (09:30 UTC) counts.
    command(app, CHILD)
    command(app, "report C1234 at 2026-10-20 10:30")
    command(app, "found C1234 at 2026-10-20 12:00")
    assert "*1* in the last 30 days" in command(app, "status C1234")["text"]
