"""The report and child forms: opened through views.open, submitted as view_submission."""
from __future__ import annotations

import json

from sqlalchemy import select

from store.models import Child, Episode
from tests.slack import command, datepicker, dispatch, select as pick, text_input, view_submission_body


def opened_view(slack_stub) -> dict:
    views = slack_stub.posts("views.open")
    assert views, "no form was opened"
    return views[-1]["view"]


def submit(app, view, values) -> tuple[int, dict]:
    resp = dispatch(app, view_submission_body(view, values))
    return resp.status, (json.loads(resp.body) if resp.body else {})


def test_unknown_child_opens_form_and_submission_records_both(app, services, slack_stub, clock):
    reply = command(app, "report C777 at 08:15 risk high police PR/1")
    assert "a form has opened" in reply["text"]
    view = opened_view(slack_stub)
    assert slack_stub.posts("views.open")[-1]["trigger_id"]
    whens = [b for b in view["blocks"] if b.get("block_id") == "when"]
    assert whens[0]["element"]["initial_value"] == "2026-11-19 08:15"

    values = {"label": text_input("QX"), "dob": datepicker("2012-02-29"), "gender": pick("male"),
              "looked_after": pick("yes"), "placement": pick("foster_care"), "when": text_input("2026-11-19 08:15"),
              "risk": pick("high"), "police": text_input("PR/1")}
    status, body = submit(app, view, values)
    assert status == 200 and body == {}
    with services.sessions() as s:
        child = s.scalar(select(Child).where(Child.child_ref == "C777"))
        assert (child.label, child.gender, child.looked_after, child.placement_type) == ("QX", "male", True, "foster_care")
        [ep] = s.scalars(select(Episode)).all()
        assert ep.risk_grade == "high" and ep.police_ref == "PR/1" and ep.placement_type == "foster_care"
    confirmations = slack_stub.posts("chat.postEphemeral")
    assert confirmations and "C777 (QX) missing since" in confirmations[-1]["text"]


def test_form_errors_are_shown_beside_the_field_and_nothing_is_written(app, services, slack_stub):
    command(app, "report")
    view = opened_view(slack_stub)
    status, body = submit(app, view, {"child_ref": text_input("C888"), "when": text_input("now")})
    assert body["response_action"] == "errors" and "label" in body["errors"]
    status, body = submit(app, view, {"child_ref": text_input("C888"), "label": text_input("AB"),
                                      "when": text_input("in an hour")})
    assert body["response_action"] == "errors" and "when" in body["errors"]
    status, body = submit(app, view, {"child_ref": text_input("bad ref!"), "label": text_input("AB")})
    assert "child_ref" in body["errors"]
    with services.sessions() as s:
        assert s.scalars(select(Child)).all() == [] and s.scalars(select(Episode)).all() == []


def test_child_form_creates_and_updates(app, services, slack_stub):
    command(app, "child C555")
    view = opened_view(slack_stub)
    status, body = submit(app, view, {"label": text_input("MN"), "placement": pick("semi_independent"),
                                      "placed_in": text_input("Nottinghamshire County Council")})
    assert body == {}
    command(app, "child C555")
    view = opened_view(slack_stub)
    label_block = next(b for b in view["blocks"] if b["block_id"] == "label")
    assert label_block["element"]["initial_value"] == "MN", "the form shows the current details"
    with services.sessions() as s:
        child = s.scalar(select(Child).where(Child.child_ref == "C555"))
        assert child.placement_type == "semi_independent" and child.out_of_area is True
        assert child.placed_in == "Nottinghamshire"
    command(app, "child C555")
    status, body = submit(app, opened_view(slack_stub), {"placed_by": text_input("Notts")})
    assert body["response_action"] == "errors" and "Nottinghamshire or Nottingham?" in body["errors"]["placed_by"]


def test_double_form_submission_makes_one_episode(app, services, slack_stub):
    command(app, "report C901")
    view = opened_view(slack_stub)
    values = {"child_ref": text_input("C901"), "label": text_input("TT"), "when": text_input("now")}
    assert submit(app, view, values)[1] == {}
    status, body = submit(app, view, values)
    assert body["response_action"] == "errors"
    with services.sessions() as s:
        assert len(s.scalars(select(Episode)).all()) == 1
