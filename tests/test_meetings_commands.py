"""Meeting commands, the setup form, the sweep step and the calendar feed, on a real database."""
from __future__ import annotations

from handlers.slack.render import blocks_of, mrkdwn
from handlers.slack.text import from_slack
from tests.conftest import files
import json
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot import ics
from handlers.commands import run_command
from scheduler import meetings_job
from scheduler.delivery import deliver_due
from store import meetings as sm
from store.models import AuditRecord, Child, Outbox
from tests.conftest import ALERT_CHANNEL, DUTY_USER, make_settings
from tests.slack import command, dispatch, text_input, view_submission_body

LONDON = ZoneInfo("Europe/London")
UTC = timezone.utc


@pytest.fixture
def settings(db_url, slack_stub):
    """The duty worker of these tests also chairs the meetings (MEETING_CHAIRS): set-up and cancelling are theirs."""
    return make_settings(db_url, slack_stub, meeting_chairs=[DUTY_USER])


@pytest.fixture(autouse=True)
def after_the_november_meeting(clock):
    clock.set(datetime(2026, 11, 19, 12, 0, tzinfo=UTC))  # Thu 19 Nov: that morning's meeting has begun


def run(services, text: str, user: str = DUTY_USER):
    """A command typed in Slack, as the Slack edge hands it to the router."""
    return run_command(services, user_id=user, channel_id=ALERT_CHANNEL, text=from_slack(text), is_admin=False)


def outbox(services, kind: str | None = None) -> list[Outbox]:
    with services.sessions() as s:
        q = select(Outbox).order_by(Outbox.id)
        return list(s.scalars(q.where(Outbox.kind == kind) if kind else q))


def add_child(services, ref="C1234", label="JB", now=None):
    now = now or datetime(2026, 11, 1, tzinfo=UTC)
    with services.sessions.begin() as s:
        s.add(Child(child_ref=ref, label=label, looked_after=True, placement_type="foster_care", created_at=now,
                    updated_at=now))


def setup_default(services):
    reply = run(services, 'meeting setup chair="Jo Chair <chair@example.org>" attendees="Al <al@example.org>"')
    assert reply.text.startswith(":calendar: Saved"), reply.text
    return reply


# -- the setup form through Bolt --------------------------------------------------------
def form_state(**values) -> dict:
    state = {
        "name": text_input("Missing Children Monitoring Meeting"), "rrule": text_input("FREQ=MONTHLY;BYDAY=+3TH"),
        "start_time": {"value": {"type": "timepicker", "selected_time": "10:00"}},
        "duration": text_input("90"), "location": text_input("Room 4"),
        "chair": text_input("Jo Chair <chair@example.org>"), "attendees": text_input("Al <al@example.org>\nBea <bea@example.org>"),
        "channel": {"value": {"type": "conversations_select", "selected_conversation": ALERT_CHANNEL}},
        "lead": text_input("2"),
    }
    state.update(values)
    return state


def test_setup_form_opens_and_saves(app, services, slack_stub):
    assert command(app, "meeting setup")["text"] == "Opening the meeting form…"
    (opened,) = slack_stub.posts("views.open")
    view = opened["view"]
    assert view["callback_id"] == "meeting_setup"
    assert len(view["blocks"]) <= 100 and view["title"]["text"] == "Meeting series"

    bad = dispatch(app, view_submission_body(view, form_state(rrule=text_input("EVERY THIRD THURSDAY"))))
    assert bad.status == 200 and json.loads(bad.body)["response_action"] == "errors"
    assert "rrule" in json.loads(bad.body)["errors"]
    assert outbox(services) == []

    ok = dispatch(app, view_submission_body(view, form_state()))
    assert ok.status == 200 and not ok.body
    with services.sessions() as s:
        (series,) = sm.all_series(s)
        assert [p.email for p in series.spec.attendees] == ["al@example.org", "bea@example.org"]
        assert series.spec.location == "Room 4" and series.dtstart == date(2026, 11, 19)
        assert s.scalar(select(AuditRecord.action).where(AuditRecord.entity == "meeting_series")) == "meeting.create"
    uploads = slack_stub.posts("files.completeUploadExternal")
    assert len(uploads) == 1 and uploads[0]["channel_id"] == ALERT_CHANNEL


# -- inline commands ---------------------------------------------------------------------
def test_setup_inline_list_and_update_raises_sequence(services):
    setup_default(services)
    again = run(services, 'meeting setup chair="Jo Chair <chair@example.org>" attendees="Al <al@example.org>"')
    assert again.text.startswith("Nothing changed")
    moved = run(services, 'meeting setup name="Missing Children Monitoring Meeting" location="Online" time=09:30-11:00')
    assert "version 1" in moved.text and "09:30–11:00" in moved.text
    listing = run(services, "meeting list").text
    assert "Next: Thu 17 Dec 2026, Thu 21 Jan 2027, Thu 18 Feb 2027" in listing
    mace = run(services, 'meeting setup name=MACE rrule="FREQ=WEEKLY;INTERVAL=2;BYDAY=TU" time=14:00 lead=1')
    assert "every other Tuesday" in mace.text
    with services.sessions() as s:
        series = sm.all_series(s)
        assert [x.name for x in series] == ["Missing Children Monitoring Meeting", "MACE"]
        assert series[0].sequence == 1 and series[0].uid != series[1].uid
    invites = outbox(services, "meeting_invite")
    assert [files(r)[0]["filename"] for r in invites] == ["invite.ics"] * 3
    cal = icalendar.Calendar.from_ical(files(invites[1])[0]["content"])
    assert cal.walk("VEVENT")[0]["SEQUENCE"] == 1


@pytest.mark.parametrize("text, needle", [
    ("meeting setup rrule=NONSENSE", "rrule"),
    ("meeting setup colour=red", "is not a setting"),
    ('meeting setup chair="not an address"', "Name <email>"),
    ("meeting setup time=25:00", "not a time"),
    ("meeting setup time=10:00-09:00", "duration_minutes"),
    ("meeting frobnicate", "not a meeting command"),
])
def test_setup_refusals(services, text, needle):
    reply = run(services, text)
    assert reply.text.startswith(":warning:") and needle in reply.text, reply.text
    assert outbox(services) == []


def test_cancel_a_date_and_the_series(services):
    setup_default(services)
    wrong = run(services, "meeting cancel missing 2026-12-18")
    assert "does not meet on Fri 18 Dec 2026" in wrong.text and "Thu 17 Dec 2026" in wrong.text
    ok = run(services, "meeting cancel missing 2026-12-17")
    assert ok.text.startswith(":x:") and "Thu 17 Dec 2026 10:00 GMT" in ok.text
    assert "already cancelled" in run(services, "meeting cancel missing 17/12/2026").text
    assert "Next: Thu 21 Jan 2027" in run(services, "meeting list").text
    cancel = outbox(services, "meeting_invite")[-1]
    # one upload: the date's CANCEL, then the whole series without that date
    first, then = (icalendar.Calendar.from_ical(f["content"]) for f in files(cancel))
    assert first["METHOD"] == "CANCEL" and first.walk("VEVENT")[0]["RECURRENCE-ID"].dt == datetime(2026, 12, 17, 10, tzinfo=LONDON)
    assert then["METHOD"] == "REQUEST" and [d.dt for d in then.walk("VEVENT")[0]["EXDATE"].dts] == [
        datetime(2026, 12, 17, 10, tzinfo=LONDON)]
    assert "No single series" in run(services, "meeting cancel mace").text
    gone = run(services, 'meeting cancel "Missing Children Monitoring Meeting"')
    assert "cancelled, every future meeting" in gone.text
    assert "No meeting series" in run(services, "meeting list").text


def test_agenda_on_demand_and_posted(services, slack_stub, clock):
    assert "No meeting series is set up yet" in run(services, "agenda").text
    setup_default(services)
    add_child(services)
    reply = blocks_of(run(services, "agenda"))  # Block Kit internals: the neutral agenda rendered for Slack
    assert reply and reply[0]["type"] == "header"
    assert "agenda for Thu 17 Dec 2026 10:00 GMT" in reply[0]["text"]["text"]
    assert "does not meet" in run(services, "agenda 2026-12-18").text
    clock.set(datetime(2026, 12, 17, 11, 0, tzinfo=UTC))  # during the December meeting: its agenda
    assert "agenda for Thu 17 Dec 2026" in blocks_of(run(services, "agenda"))[0]["text"]["text"]
    clock.set(datetime(2026, 12, 17, 11, 30, tzinfo=UTC))  # once it has ended: January's
    assert "agenda for Thu 21 Jan 2027" in blocks_of(run(services, "agenda"))[0]["text"]["text"]
    clock.set(datetime(2026, 11, 19, 12, 0, tzinfo=UTC))
    later = run(services, "agenda 21/01/2027")  # the meeting after next: its review period has not begun
    assert "reviews from Tue 15 Dec 2026 09:00 GMT, which has not come yet" in later.text and not blocks_of(later)
    before = len(outbox(services))
    posted = run(services, "agenda missing 17/12/2026 post")
    assert "is posted to <#C0ALERTS01>" in mrkdwn(posted.text)
    rows = outbox(services)[before:]
    assert [r.kind for r in rows] == ["meeting_agenda"] * 3
    assert rows[0].message.get("sections") and [files(r)[0]["filename"] for r in rows[1:]] == ["agenda-2026-12-17.md", "agenda-2026-12-17.html"]
    assert deliver_due(services, clock.now) >= 3
    assert slack_stub.posts("chat.postMessage")[-1]["text"].startswith("Missing Children Monitoring Meeting: agenda")


def test_actions_add_list_done(services, clock):
    add_child(services)
    ok = run(services, 'action add C1234 “Book a strategy meeting” owner <@U0OWNER01|jo> due friday')
    assert mrkdwn(ok.text).startswith(":pushpin: Action #1 (C1234 (JB)) for <@U0OWNER01>, due Fri 20 Nov 2026"), ok.text
    general = run(services, "action add general Map hot spots with police owner <@U0OWNER02> due 2026-12-20")
    assert "Action #2 (general)" in general.text
    listing = run(services, "action list").text
    assert "#1 C1234 (JB): Book a strategy meeting" in listing and "#2 general: Map hot spots" in listing
    for bad, needle in [
        ("action add C9999 Call owner <@U0OWNER01> due friday", "No child with case reference C9999"),
        ("action add C1234 Call owner jo due friday", "mentioning them"),
        ("action add C1234 Call owner <@U0OWNER01> due someday", "due date"),
        ("action add C1234 Call owner <@U0OWNER01> due 2026-11-01", "in the past"),
        ("action add C1234 Call due friday", "owner @user"),
        ('action add C1234 "unclosed owner <@U0OWNER01> due friday', "quotation mark"),
        ("action done 99", "no action #99"),
    ]:
        reply = run(services, bad)
        assert reply.text.startswith(":warning:") and needle.lower() in str(reply.text).lower(), (bad, reply.text)
    assert run(services, "action done 1").text.startswith(":white_check_mark: Action #1")
    assert "already done" in run(services, "action done #1").text
    assert "#1" not in run(services, "action list").text
    with services.sessions() as s:
        actions = list(s.scalars(select(AuditRecord.action).where(AuditRecord.entity == "meeting_action")))
    assert actions == ["action.add", "action.add", "action.done"]


# -- the sweep step ----------------------------------------------------------------------
def test_agenda_built_once_at_the_lead_time(services, slack_stub, clock):
    setup_default(services)
    add_child(services)
    import scheduler.sweep as sweep

    assert meetings_job.meetings_step in sweep.SWEEP_STEPS
    lead = datetime(2026, 12, 15, 9, 0, tzinfo=UTC)  # Tue 15 Dec 09:00 GMT: two working days before Thu 17
    meetings_job.meetings_step(services, lead - timedelta(minutes=1))
    assert outbox(services, "meeting_agenda") == []
    for _ in range(3):
        meetings_job.meetings_step(services, lead)
        meetings_job.meetings_step(services, lead + timedelta(hours=5))
    rows = outbox(services, "meeting_agenda")
    assert len(rows) == 3 and rows[0].key.startswith("meeting:agenda:1:20261217T1000")
    with services.sessions() as s:
        series = sm.all_series(s)[0]
        assert series.sequence == 0  # the agenda is not in the invite: no new version for attendees
        data = sm.series_data(series)
    cal = icalendar.Calendar.from_ical(ics.request(data))
    (dec,) = recurring_ical_events.of(cal).at(date(2026, 12, 17))
    assert "Children missing" not in str(dec["DESCRIPTION"]) and "C1234" not in ics.request(data).decode()

    # The January meeting's agenda waits for its own lead time (Tue 19 Jan 2027).
    meetings_job.meetings_step(services, datetime(2027, 1, 18, 9, 0, tzinfo=UTC))
    assert len(outbox(services, "meeting_agenda")) == 3
    meetings_job.meetings_step(services, datetime(2027, 1, 19, 9, 0, tzinfo=UTC))
    assert len(outbox(services, "meeting_agenda")) == 6


def test_no_stale_agenda_after_downtime(services, clock):
    setup_default(services)
    # Down from before the lead time until after the meeting began: no agenda for a meeting in progress.
    meetings_job.meetings_step(services, datetime(2026, 12, 17, 10, 5, tzinfo=UTC))
    assert outbox(services, "meeting_agenda") == []


def test_bank_holidays_move_the_lead_time(services):
    run(services, 'meeting setup name="Christmas review" rrule="FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=29" time=10:00')
    # Tue 29 Dec 2026: Mon 28 (Boxing Day substitute), the weekend and Fri 25 are skipped -> Wed 23 Dec.
    meetings_job.meetings_step(services, datetime(2026, 12, 22, 9, 0, tzinfo=UTC))
    assert outbox(services, "meeting_agenda") == []
    meetings_job.meetings_step(services, datetime(2026, 12, 23, 9, 0, tzinfo=UTC))
    assert len(outbox(services, "meeting_agenda")) == 3


def test_overdue_action_reminded_the_day_after_then_weekly(services):
    add_child(services)
    run(services, "action add C1234 Call the placement owner <@U0OWNER01> due 2026-11-20")
    def reminders_after(day: int) -> int:
        meetings_job.remind_overdue_actions(services, datetime(2026, 11, day, 9, tzinfo=UTC))
        return len(outbox(services, "action_overdue"))

    assert reminders_after(20) == 0  # due today: not overdue yet
    assert reminders_after(21) == 1  # the day after
    assert reminders_after(22) == 1
    assert reminders_after(27) == 1
    assert reminders_after(28) == 2  # a week later
    (first, second) = outbox(services, "action_overdue")
    assert first.address == ALERT_CHANNEL and "@U0OWNER01" in first.text and "C1234 (JB)" in first.text
    run(services, "action done 1")
    meetings_job.remind_overdue_actions(services, datetime(2026, 12, 5, 9, tzinfo=UTC))
    assert len(outbox(services, "action_overdue")) == 2


def test_protocol_file_series_are_created_and_updated(services, clock):
    from bot.protocol.config import parse_protocol

    services.protocol = parse_protocol({"meetings": [{"name": "MACE", "rrule": "FREQ=MONTHLY;BYDAY=+2TU",
                                                      "start_time": "14:00", "location": "Room 1"}]})
    meetings_job.meetings_step(services, clock.now)
    meetings_job.meetings_step(services, clock.now)
    services.protocol = parse_protocol({"meetings": [{"name": "MACE", "rrule": "FREQ=MONTHLY;BYDAY=+2TU",
                                                      "start_time": "14:00", "location": "Room 2"}]})
    meetings_job.meetings_step(services, clock.now)
    with services.sessions() as s:
        (series,) = sm.all_series(s)
        assert (series.source, series.sequence, series.spec.location) == ("protocol", 1, "Room 2")
    assert "_(from the protocol file)_" in run(services, "meeting list").text
    refused = run(services, 'meeting setup name=MACE location="Room 9"')
    assert "set in the protocol file" in refused.text
    # A cancellation made in Slack is not undone by the next sweep's sync of the file.
    assert "cancelled, every future meeting" in run(services, "meeting cancel MACE").text
    meetings_job.meetings_step(services, clock.now)
    with services.sessions() as s:
        assert sm.all_series(s) == []


# -- the feed ----------------------------------------------------------------------------
def test_calendar_feed_needs_the_token(services):
    from handlers.slack.app import build_app
    from bot.serve import create_web_app

    setup_default(services)
    web = TestClient(create_web_app(services, build_app(services)))
    assert web.get("/calendar/anything.ics").status_code == 404  # no token configured: no feed
    services.settings.calendar_token = "s3cret-token-0123456789"
    assert web.get("/calendar/wrong.ics").status_code == 404
    assert web.get("/calendar/s3cret-token-0123456789").status_code == 404
    ok = web.get("/calendar/s3cret-token-0123456789.ics")
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/calendar")
    cal = icalendar.Calendar.from_ical(ok.content)
    assert "METHOD" not in cal
    assert [e["SUMMARY"] for e in cal.walk("VEVENT")] == ["Missing Children Monitoring Meeting"]


def test_cli_prints_the_agenda_and_the_calendar(services, db_url, slack_stub, monkeypatch, capsys):
    from bot import cli

    setup_default(services)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("SLACK_API_URL", slack_stub.url)
    monkeypatch.chdir("/tmp")
    assert cli.main(["agenda", "--date", "2026-12-17"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Missing Children Monitoring Meeting: agenda for Thu 17 Dec 2026 10:00 GMT")
    assert cli.main(["meetings", "ics"]) == 0
    assert "RRULE:FREQ=MONTHLY;BYDAY=+3TH" in capsys.readouterr().out


def test_cli_agenda_says_how_to_set_up_a_series_and_names_a_bad_date(services, db_url, slack_stub, monkeypatch,
                                                                     capsys):
    from bot import cli

    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("SLACK_API_URL", slack_stub.url)
    monkeypatch.chdir("/tmp")
    assert cli.main(["agenda"]) == 2
    assert "no meeting series is set up yet: use /missing meeting setup" in capsys.readouterr().err
    setup_default(services)
    assert cli.main(["agenda", "--date", "31/11/2026"]) == 2
    assert "'31/11/2026' is not a date" in capsys.readouterr().err
