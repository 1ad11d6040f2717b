"""Meetings held: `/missing held` and the alert's button form, each linked to the alert that asked
for the meeting, with the real time it was held."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from scheduler.sweep import sweep
from store.alerts import Alert
from store.models import AuditRecord, HeldMeeting, Outbox
from store.records import asks_for
from tests.clock_helpers import child, found, report
from tests.conftest import ALERT_CHANNEL, DUTY_USER
from tests.slack import block_actions_body, command, dispatch, view_submission_body


def meetings(services) -> list[HeldMeeting]:
    with services.sessions() as s:
        return list(s.scalars(select(HeldMeeting).order_by(HeldMeeting.id)))


def alerts_of(services, rule: str) -> list[Alert]:
    with services.sessions() as s:
        return list(s.scalars(select(Alert).where(Alert.rule == rule).order_by(Alert.id)))


def long_missing(services, clock) -> Alert:
    child_id = child(services, "C1", "AB")
    report(services, "C1", clock.now)
    clock.advance(hours=25)
    sweep(services)
    [alert] = [a for a in alerts_of(services, "long_missing") if a.child_id == child_id]
    return alert


def test_held_inline_is_linked_to_the_alert_that_asked_for_it(app, services, clock):
    alert = long_missing(services, clock)
    reply = command(app, "held C1 strategy at 30m ago note police, school and social care attended")
    assert "strategy meeting held Fri 20 Nov 2026 10:30 GMT recorded with your note" in reply["text"]
    assert "It answers the alert of Fri 20 Nov 2026 10:00 GMT" in reply["text"]
    [m] = meetings(services)
    assert (m.kind, m.held_at, m.alert_id, m.episode_id) == ("strategy", clock.now - timedelta(minutes=30), alert.id,
                                                             alert.episode_id)
    assert m.note == "police, school and social care attended" and m.recorded_by == DUTY_USER
    with services.sessions() as s:
        a = s.scalar(select(AuditRecord).where(AuditRecord.action == "meeting.held"))
        assert a.entity_id == m.id and a.after["alert_id"] == alert.id
        line = s.scalar(select(Outbox).where(Outbox.kind == "change.held"))
    assert line.text == (f":handshake: C1 (AB): strategy meeting held Fri 20 Nov 2026 10:30 GMT, recorded by @{DUTY_USER}.")  # the plain preview of the neutral message
    assert line.address == ALERT_CHANNEL and "school" not in line.text


def test_phrases_and_aliases_name_the_kind(app, services, clock):
    long_missing(services, clock)
    command(app, "held C1 strategy discussion at 2h ago")
    command(app, "held C1 intervention planning meeting at 1h ago")
    assert [m.kind for m in meetings(services)] == ["discussion", "ipm"]


def test_held_before_the_alert_or_with_no_alert_is_recorded_unlinked(app, services, clock):
    child(services, "C2", "CD")
    report(services, "C2", clock.now - timedelta(hours=3))
    command(app, "held C2 discussion at 1h ago")
    [m] = meetings(services)
    assert m.alert_id is None and m.episode_id is not None
    long_missing(services, clock)
    command(app, "held C1 strategy at 2026-11-19 12:00")  # before the 24-hour alert fell due
    assert meetings(services)[-1].alert_id is None


def test_each_kind_links_to_the_persistence_alert_that_asked_for_it(app, services, clock):
    child(services, "C3", "EF")
    for days_ago in (20, 10, 0):
        start = clock.now - timedelta(days=days_ago, hours=2)
        report(services, "C3", start)
        found(services, "C3", start + timedelta(hours=1))
    sweep(services)
    persistence = alerts_of(services, "persistence")
    assert persistence, "three episodes in 30 days alert"
    command(app, "held C3 ipm at 10m ago")
    command(app, "held C3 strategy at 5m ago")
    ipm, strategy = meetings(services)
    by_id = {a.id: a for a in persistence}
    assert "ipm" in asks_for(by_id[ipm.alert_id]) and "strategy" in asks_for(by_id[strategy.alert_id])


@pytest.mark.parametrize("text, says", [
    ("held C1 strategy", "Say when the meeting was held"),
    ("held C1 lunch at 10:00", "is not a kind of meeting"),
    ("held C1 strategy at 2026-11-21 09:00", "in the future"),
    ("held C9 strategy at 10:00", "No child with case reference C9"),
])
def test_bad_held_is_refused_and_nothing_is_recorded(app, services, clock, text, says):
    long_missing(services, clock)
    reply = command(app, text)
    assert says in reply["text"] and "For example" in reply["text"], reply["text"]
    assert meetings(services) == []


def _button_post(stub) -> dict:
    for call in stub.calls:
        if call.method == "chat.postMessage" and call.args.get("channel") == ALERT_CHANNEL and \
                call.args["text"].startswith("Missing for 24 h"):
            return call.args
    raise AssertionError("no long-missing alert posted")


def _held_button(post: dict) -> dict:
    for block in post["blocks"]:
        for el in block.get("elements", []):
            if el.get("action_id") == "alert_strategy_held":
                return el
    raise AssertionError("no meeting-held button")


def test_the_button_form_refuses_bad_times_and_saves_nothing(app, services, slack_stub, clock):
    alert = long_missing(services, clock)
    post = _button_post(slack_stub)
    dispatch(app, block_actions_body("alert_strategy_held", _held_button(post)["value"]))
    view = slack_stub.posts("views.open")[-1]["view"]
    kinds = next(b for b in view["blocks"] if b.get("block_id") == "kind")
    assert [o["value"] for o in kinds["element"]["options"]] == ["strategy", "ipm", "discussion"]

    def submit(at, note="minutes with the police"):
        state = {"kind": {"value": {"type": "static_select", "selected_option": {"value": "discussion"}}},
                 "at": {"value": {"type": "datetimepicker", "selected_date_time": int(at.timestamp())}},
                 "note": {"value": {"type": "plain_text_input", "value": note}}}
        resp = dispatch(app, view_submission_body(view, state))
        return json.loads(resp.body) if resp.body else {}

    future = submit(clock.now + timedelta(hours=1))
    assert future["response_action"] == "errors" and "in the future" in future["errors"]["at"]
    early = submit(clock.now - timedelta(hours=26))
    assert "before the episode it is about began" in early["errors"]["at"]
    assert meetings(services) == []
    before_the_alert = alert.due_at - timedelta(hours=4)  # a discussion at 20 hours, recorded from the 24-hour alert
    assert submit(before_the_alert) == {}
    [m] = meetings(services)
    assert (m.kind, m.alert_id, m.note, m.held_at) == ("discussion", alert.id, "minutes with the police", before_the_alert)
    twice = submit(clock.now - timedelta(minutes=20))
    assert "Already recorded: strategy discussion held" in twice["errors"]["at"] and len(meetings(services)) == 1
    update = slack_stub.posts("chat.update")[-1]
    assert "Strategy discussion held" in json.dumps(update["blocks"]) and "minutes" not in json.dumps(update)


def test_after_an_inline_record_the_button_says_it_is_done_and_goes(app, services, slack_stub, clock):
    long_missing(services, clock)
    post = _button_post(slack_stub)
    command(app, "held C1 strategy at 1h ago")
    opened = len(slack_stub.posts("views.open"))
    dispatch(app, block_actions_body("alert_strategy_held", _held_button(post)["value"]))
    assert len(slack_stub.posts("views.open")) == opened, "no second form"
    assert "Already recorded: strategy meeting held" in slack_stub.posts("chat.postEphemeral")[-1]["text"]
    assert "alert_strategy_held" not in json.dumps(slack_stub.posts("chat.update")[-1]["blocks"])
    assert len(meetings(services)) == 1
