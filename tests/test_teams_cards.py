"""Neutral messages and forms as Adaptive Cards (handlers/teams/cards.py), each validated against the
official schema of its version: 1.5 for the bot, 1.4 for the Workflows webhook (under 28 KB)."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import jsonschema
import pytest

from bot.messages import CHANNEL, Action, Attachment, Field, Form, Message, Person, rich
from handlers.teams import cards
from tests.teams.schemas import validate

WORKER = "00000000-0000-4000-8000-0000000000a1"  # an invented Entra object id


def alert(acknowledged: bool = False) -> Message:
    msg = Message(headline=":rotating_light: Missing for 24 hours: *C1234* (Case A)",
                  text="Strategy meeting within 24 hours of the report.",
                  facts=[("Case", "C1234"), ("Rule", "24 hours missing")],
                  visibility=CHANNEL, ref="alert:12")
    if acknowledged:
        msg.notes.append(rich(":white_check_mark: Acknowledged by ", Person(WORKER), " at 10:05"))
    else:
        msg.actions = [Action("alert.ack", "Acknowledge", "12", "primary"),
                       Action("alert.interview", "Record interview outcome", "12"),
                       Action("alert.meeting", "Strategy meeting held", "12", "danger"),
                       Action("open", "Open the record", url="https://teams.example/l/entity/1")]
    return msg


def report_form(errors: dict | None = None) -> Form:
    return Form("report", "Report a child missing", [
        Field("ref", "text", "Case reference", required=True, hint="e.g. C1234", max_length=40),
        Field("missing_at", "datetime", "Missing since", required=True,
              initial=datetime(2026, 11, 19, 8, 0, tzinfo=timezone.utc)),
        Field("risk", "choice", "Risk", choices=[("low", "Low"), ("medium", "Medium"), ("high", "High")], initial="high"),
        Field("factors", "choices", "Push/pull factors", choices=[("1a", "Peer"), ("2b", "Exploitation")],
              initial=["1a"]),
        Field("dob", "date", "Date of birth", initial="2012-03-04"),
        Field("count", "number", "Times before", initial=2),
        Field("worker", "person", "Allocated worker"),
        Field("notes", "multiline", "Notes"),
        Field("csv", "file", "Spreadsheet"),
        Field("note", "note", "Only the case reference is shown in the channel."),
    ], meta="19:fake", errors=errors or {})


MESSAGES = {
    "alert": alert(),
    "alert_acknowledged": alert(acknowledged=True),
    "status": Message(headline="C1234", text="Missing since 08:00\n*Risk:* high", sections=["Episodes: 3", "Due: RI"],
                      facts=[("Placement", "Oak House")]),
    "empty": Message(),
    "chart": Message(text="Board figures", attachments=[Attachment("chart.png", "image/png", b"\x89PNG" + b"0" * 200, "Chart"),
                                                        Attachment("agenda.docx", "application/octet-stream", b"x" * 5000)]),
}


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_every_bot_card_validates_against_the_1_5_schema(name):
    validate(cards.card(MESSAGES[name], names={WORKER: "Test Worker"}), "1.5")


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_every_webhook_card_validates_against_the_1_4_schema_and_fits(name):
    payload = cards.webhook_payload(MESSAGES[name], open_url="https://teams.microsoft.com/l/channel/19%3Afake")
    [att] = payload["attachments"]
    validate(att["content"], "1.4")
    assert not any(a["type"] == "Action.Execute" for a in att["content"].get("actions", []))
    assert len(json.dumps(payload).encode()) <= cards.WEBHOOK_LIMIT


def test_the_validator_can_fail():
    bad = cards.card(alert())
    bad["body"][0]["weight"] = "Heavy"
    with pytest.raises(jsonschema.ValidationError):
        validate(bad, "1.5")
    bad = cards.card(alert())
    bad["msteams"] = {"entities": []}  # why people are names, not <at> mentions: the schema refuses this
    with pytest.raises(jsonschema.ValidationError):
        validate(bad, "1.5")


def test_buttons_are_execute_actions_carrying_action_id_and_value():
    c = cards.card(alert())
    ack = c["actions"][0]
    assert ack == {"type": "Action.Execute", "title": "Acknowledge", "verb": "alert.ack",
                   "data": {"action": "alert.ack", "value": "12", "ref": "alert:12"}, "style": "positive"}
    assert c["actions"][2]["style"] == "destructive"
    assert c["actions"][3] == {"type": "Action.OpenUrl", "title": "Open the record", "url": "https://teams.example/l/entity/1"}


def test_acknowledged_card_names_the_person_and_has_no_buttons():
    c = cards.card(alert(acknowledged=True), names={WORKER: "Test Worker"})
    assert "actions" not in c
    assert "Test Worker" in c["body"][-1]["text"] and "✅" in c["body"][-1]["text"]
    # Without a known name the person's id is shown, never a mention.
    c = cards.card(alert(acknowledged=True))
    assert WORKER in c["body"][-1]["text"] and "<at>" not in json.dumps(c)


def test_markup_icons_and_escaping():
    assert cards.markdown(":warning: *C1234* _now_ `/missing status C1234`") == "⚠️ **C1234** _now_ status C1234"
    typed = "<at>Boss</at> [click](http://evil.example) **loud** snake_case\n- item"
    out = cards.markdown(typed)
    assert "<at>" not in out and "](" not in out.replace("\\](", "")
    # (`*…*` in a plain string is the neutral markup for strong: at worst a typed word turns bold.)
    assert "snake\\_case" in out and "\\- item" in out and "\\[click\\]" in out


def test_people_typed_as_text_never_become_mentions():
    msg = Message(text=rich("Seen by ", Person(WORKER), " and <at>Somebody</at>"))
    c = cards.card(msg, names={WORKER: "Test Worker"})
    assert c["body"][0]["text"] == "Seen by Test Worker and ‹at›Somebody‹/at›"


def test_form_as_dialog_card_validates_and_shows_field_errors():
    clean = cards.form_card(report_form())
    validate(clean, "1.5")
    ids = [e.get("id") for e in clean["body"] if e.get("id")]
    assert ids == ["ref", "missing_at__date", "missing_at__time", "risk", "factors", "dob", "count", "worker", "notes"]
    assert clean["actions"] == [{"type": "Action.Submit", "title": "Save", "data": {"form": "report", "meta": "19:fake"}}]
    bad = cards.form_card(report_form({"ref": "Give a case reference, e.g. C1234", "other": "Try again"}))
    validate(bad, "1.5")
    texts = [e["text"] for e in bad["body"] if e["type"] == "TextBlock"]
    assert any("Nothing was saved" in t for t in texts)
    ref_error = next(i for i, e in enumerate(bad["body"]) if "case reference, e.g." in e.get("text", ""))
    assert bad["body"][ref_error - 2]["id"] == "ref"  # under the field (after its hint)
    assert any(t == "⚠️ Try again" for t in texts)


def test_form_values_join_date_and_time_and_split_choices():
    values = cards.form_values(report_form(), {"ref": " C1234 ", "missing_at__date": "2026-11-19",
                                               "missing_at__time": "08:30", "factors": "1a,2b", "risk": ""})
    assert values["ref"] == "C1234" and values["missing_at"] == datetime(2026, 11, 19, 8, 30, tzinfo=timezone.utc)
    assert values["factors"] == ["1a", "2b"] and "risk" not in values and "csv" not in values
    # Read in the council's zone: 08:30 on a summer day in London is 07:30 UTC.
    from zoneinfo import ZoneInfo

    summer = cards.form_values(report_form(), {"missing_at__date": "2026-07-01", "missing_at__time": "08:30"},
                               ZoneInfo("Europe/London"))
    assert summer["missing_at"] == datetime(2026, 7, 1, 7, 30, tzinfo=timezone.utc)
    assert cards.form_values(report_form(), {"missing_at__date": "2026-07-01"})["missing_at"] == "2026-07-01"


def test_webhook_payload_is_shortened_to_fit():
    big = Message(headline="Agenda", text="x", sections=[f"Section {i}: " + "y" * 2000 for i in range(30)])
    payload = cards.webhook_payload(big)
    size = len(json.dumps(payload, ensure_ascii=False).encode())
    assert size <= cards.WEBHOOK_LIMIT
    body = payload["attachments"][0]["content"]["body"]
    assert "Shortened for Teams" in body[-1]["text"]
    assert 0 < sum(1 for b in body if b["text"].startswith("Section")) < 30
    validate(payload["attachments"][0]["content"], "1.4")
