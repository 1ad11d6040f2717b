"""Defects found in review of the meetings area, each shown through the real code paths."""
from __future__ import annotations

from handlers.slack.render import blocks_of
from handlers.slack.text import from_slack
import json
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
from sqlalchemy import select

from bot import ics
from handlers.commands import run_command
from scheduler import meetings_job
from store import meetings as sm
from store.models import Child, Outbox
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
    clock.set(datetime(2026, 11, 19, 12, 0, tzinfo=UTC))


def run(services, text: str, user: str = DUTY_USER):
    """A command typed in Slack, as the Slack edge hands it to the router."""
    return run_command(services, user_id=user, channel_id=ALERT_CHANNEL, text=from_slack(text), is_admin=False)


def outbox(services, kind: str) -> list[Outbox]:
    with services.sessions() as s:
        return list(s.scalars(select(Outbox).where(Outbox.kind == kind).order_by(Outbox.id)))


def setup_default(services):
    reply = run(services, 'meeting setup chair="Jo Chair <chair@example.org>" '
                          'attendees="Al <al@example.org>;Bea <bea@example.org>" location="Room 4"')
    assert reply.text.startswith(":calendar: Saved"), reply.text


def the_series(services) -> sm.MeetingSeries:
    with services.sessions() as s:
        (series,) = sm.all_series(s)
        series.spec, list(series.occurrences)  # noqa: B018 - load while the session is open
        return series


# -- a cancelled meeting gets no agenda, even on demand -------------------------------------
def test_no_agenda_for_a_cancelled_meeting_on_demand(services, db_url, slack_stub, monkeypatch, capsys):
    setup_default(services)
    assert run(services, "meeting cancel missing 2026-12-17").text.startswith(":x:")
    reply = run(services, "agenda 2026-12-17 post")
    assert reply.text.startswith(":warning:") and "cancelled" in reply.text, reply.text
    assert "/missing agenda" in reply.text  # an example of what to type
    assert outbox(services, "meeting_agenda") == []

    from bot import cli
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("SLACK_API_URL", slack_stub.url)
    monkeypatch.chdir("/tmp")
    assert cli.main(["agenda", "--date", "2026-12-17"]) == 2
    assert "cancelled" in capsys.readouterr().err


# -- inline setup without a name does not wipe the series' other settings -------------------
def test_inline_setup_without_name_keeps_the_other_settings(services):
    setup_default(services)
    reply = run(services, "meeting setup time=14:00")
    assert "version 1" in reply.text, reply.text
    spec = the_series(services).spec
    assert spec.start_time.hour == 14
    assert [p.email for p in spec.attendees] == ["al@example.org", "bea@example.org"]
    assert spec.chair is not None and spec.chair.email == "chair@example.org"
    assert spec.location == "Room 4"


# -- the setup form shows the series it will change ----------------------------------------
def test_setup_form_is_filled_with_the_existing_series(app, services, slack_stub):
    setup_default(services)
    command(app, "meeting setup")
    view = slack_stub.posts("views.open")[-1]["view"]
    values = {b["block_id"]: b["element"].get("initial_value") for b in view["blocks"]}
    assert values["location"] == "Room 4"
    assert values["attendees"] == "Al <al@example.org>\nBea <bea@example.org>"
    assert values["chair"] == "Jo Chair <chair@example.org>"


def test_setup_form_keeps_settings_it_does_not_show(app, services, slack_stub):
    run(services, 'meeting setup first=2026-12-01 location="Room 4"')
    with services.sessions.begin() as s:  # a setting the form does not show
        (series,) = sm.all_series(s)
        series.config = {**series.config, "agenda_time": "08:00:00"}
    command(app, "meeting setup")
    view = slack_stub.posts("views.open")[-1]["view"]
    state = {
        "name": text_input("Missing Children Monitoring Meeting"), "rrule": text_input("FREQ=MONTHLY;BYDAY=+3TH"),
        "start_time": {"value": {"type": "timepicker", "selected_time": "10:00"}},
        "duration": text_input("90"), "location": text_input("Room 5"), "chair": text_input(""),
        "attendees": text_input(""), "channel": {"value": {"type": "conversations_select", "selected_conversation": None}},
        "lead": text_input("2"),
    }
    ok = dispatch(app, view_submission_body(view, state))
    assert ok.status == 200 and not ok.body
    spec = the_series(services).spec
    assert spec.location == "Room 5" and spec.agenda_time.hour == 8 and spec.first_date == date(2026, 12, 1)


# -- a cancelled date stays cancelled when the series' time changes -------------------------
def test_cancelled_date_stays_cancelled_when_the_time_changes(services):
    setup_default(services)
    run(services, "meeting cancel missing 2026-12-17")
    assert "version 2" in run(services, "meeting setup time=14:00-15:30").text
    listing = run(services, "meeting list").text
    assert "Next: Thu 19 Nov 2026, Thu 21 Jan 2027" in listing, listing
    series = the_series(services)
    assert series.skip() == {datetime(2026, 12, 17, 14, 0, tzinfo=UTC)}
    cal = icalendar.Calendar.from_ical(ics.request(sm.series_data(series)))
    assert recurring_ical_events.of(cal).at(date(2026, 12, 17)) == []
    # no agenda for the cancelled meeting, at its lead time or later
    meetings_job.build_due_agendas(services, datetime(2026, 12, 15, 9, 0, tzinfo=UTC))
    meetings_job.build_due_agendas(services, datetime(2026, 12, 17, 9, 0, tzinfo=UTC))
    assert outbox(services, "meeting_agenda") == []


def test_time_change_leaves_no_orphan_override_in_the_calendar(services):
    setup_default(services)
    meetings_job.build_due_agendas(services, datetime(2026, 12, 15, 9, 0, tzinfo=UTC))
    assert len(outbox(services, "meeting_agenda")) == 3
    run(services, "meeting setup time=14:00-15:30")
    series = the_series(services)
    cal = icalendar.Calendar.from_ical(ics.request(sm.series_data(series)))
    dec = recurring_ical_events.of(cal).at(date(2026, 12, 17))
    assert [e["DTSTART"].dt for e in dec] == [datetime(2026, 12, 17, 14, 0, tzinfo=LONDON)]
    # every override is of an instance the rule gives
    master = next(e for e in cal.walk("VEVENT") if "RRULE" in e)
    starts = {e["DTSTART"].dt for e in recurring_ical_events.of(
        icalendar.Calendar.from_ical(ics.request(sm.series_data(series))))
        .between(date(2026, 11, 1), date(2027, 6, 1))}
    for e in cal.walk("VEVENT"):
        if "RECURRENCE-ID" in e:
            assert e["RECURRENCE-ID"].dt in starts
    assert master["DTSTART"].dt.hour == 14
    # the moved meeting gets its own agenda
    meetings_job.build_due_agendas(services, datetime(2026, 12, 16, 9, 0, tzinfo=UTC))
    assert len(outbox(services, "meeting_agenda")) == 6


# -- a series' agenda carries its own actions and general ones, not another series' ---------
def test_agenda_holds_only_this_series_actions(services):
    with services.sessions.begin() as s:
        s.add(Child(child_ref="C1234", label="JB", looked_after=True, placement_type="foster_care",
                    created_at=datetime(2026, 11, 1, tzinfo=UTC), updated_at=datetime(2026, 11, 1, tzinfo=UTC)))
    setup_default(services)
    run(services, 'meeting setup name=MACE rrule="FREQ=MONTHLY;BYDAY=+2TU" time=14:00')
    with services.sessions.begin() as s:
        monitoring, mace = sm.all_series(s)
        sm.add_action(s, child=None, text="Monitoring only", owner="U0OWNER01", due_on=date(2026, 12, 20),
                      actor=DUTY_USER, now=datetime(2026, 11, 19, 12, tzinfo=UTC), series=monitoring)
        sm.add_action(s, child=None, text="MACE only", owner="U0OWNER01", due_on=date(2026, 12, 20),
                      actor=DUTY_USER, now=datetime(2026, 11, 19, 12, tzinfo=UTC), series=mace)
    run(services, "action add general Everyone owner <@U0OWNER02> due 2026-12-20")
    blocks = blocks_of(run(services, "agenda missing"))
    text = json.dumps(blocks)
    assert "Monitoring only" in text and "Everyone" in text and "MACE only" not in text
    text = json.dumps(blocks_of(run(services, "agenda mace")))
    assert "MACE only" in text and "Everyone" in text and "Monitoring only" not in text


def test_action_add_names_its_series_when_there_are_several(services):
    setup_default(services)
    run(services, 'meeting setup name=MACE rrule="FREQ=MONTHLY;BYDAY=+2TU" time=14:00')
    ok = run(services, 'action add general "Map hot spots" owner <@U0OWNER02> due 2026-12-20 series MACE')
    assert ok.text.startswith(":pushpin:"), ok.text
    assert "MACE" in ok.text
    assert "Map hot spots" in json.dumps(blocks_of(run(services, "agenda mace")))
    assert "Map hot spots" not in json.dumps(blocks_of(run(services, "agenda missing")))
    bad = run(services, 'action add general "x" owner <@U0OWNER02> due 2026-12-20 series nonesuch')
    assert bad.text.startswith(":warning:") and "No single series" in bad.text


# -- the protocol file's series cannot be changed in Slack by changing the case of its name --
def test_protocol_series_protected_whatever_the_case(services, clock):
    from bot.protocol.config import parse_protocol

    services.protocol = parse_protocol({"meetings": [{"name": "MACE", "rrule": "FREQ=MONTHLY;BYDAY=+2TU"}]})
    meetings_job.meetings_step(services, clock.now)
    refused = run(services, 'meeting setup name=mace location="Room 9"')
    assert "set in the protocol file" in refused.text, refused.text


# -- an impossible date gets a clear answer, not "no series matches" -------------------------
@pytest.mark.parametrize("text", ["agenda 31/11/2026", "agenda missing 2026-02-30", "meeting cancel missing 31/11/2026"])
def test_impossible_date_is_named(services, text):
    setup_default(services)
    reply = run(services, text)
    assert reply.text.startswith(":warning:") and "is not a date" in reply.text, reply.text
    assert "For example" in reply.text
    assert "Next: Thu 17 Dec 2026" in run(services, "meeting list").text  # nothing cancelled


# -- a rule with no meeting left gets a clear answer, and does not stop the other series -----
def test_rule_with_no_meeting_left_is_refused_clearly(services):
    reply = run(services, 'meeting setup rrule="FREQ=MONTHLY;BYDAY=+3TH;UNTIL=20250101T000000Z"')
    assert reply.text.startswith(":warning:") and "no meeting" in reply.text, reply.text
    assert "For example" in reply.text
    setup_default(services)
    reply = run(services, 'meeting setup rrule="FREQ=MONTHLY;BYDAY=+3TH;UNTIL=20250101T000000Z"')
    assert reply.text.startswith(":warning:") and "no meeting" in reply.text, reply.text
    assert the_series(services).spec.rrule == "FREQ=MONTHLY;BYDAY=+3TH"


def test_protocol_series_with_no_meeting_left_does_not_stop_the_agendas(services, clock):
    from bot.protocol.config import parse_protocol

    setup_default(services)
    services.protocol = parse_protocol({"meetings": [
        {"name": "Old group", "rrule": "FREQ=MONTHLY;BYDAY=+1MO;UNTIL=20250101T000000Z"}]})
    meetings_job.meetings_step(services, datetime(2026, 12, 15, 9, 0, tzinfo=UTC))
    assert len(outbox(services, "meeting_agenda")) == 3
