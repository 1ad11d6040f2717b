"""What practice records, in the forms: the report form and the alert's interview form carry the
same fields as the inline keywords; a problem shows beside its field and nothing is saved."""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from scheduler.sweep import sweep
from store.models import Child, Episode
from tests.clock_helpers import child, found, report
from tests.conftest import ALERT_CHANNEL
from tests.slack import block_actions_body, command, dispatch, select as pick, text_input, view_submission_body


def opened_view(slack_stub) -> dict:
    views = slack_stub.posts("views.open")
    assert views, "no form was opened"
    return views[-1]["view"]


def block(view: dict, block_id: str) -> dict:
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)


def submit(app, view, values) -> dict:
    resp = dispatch(app, view_submission_body(view, values))
    return json.loads(resp.body) if resp.body else {}


def multi(*values: str) -> dict:
    return {"value": {"type": "multi_static_select",
                      "selected_options": [{"text": {"type": "plain_text", "text": v}, "value": v} for v in values]}}


def ticks(*values: str) -> dict:
    return {"value": {"type": "checkboxes",
                      "selected_options": [{"text": {"type": "plain_text", "text": v}, "value": v} for v in values]}}


def when(dt) -> dict:
    return {"value": {"type": "datetimepicker", "selected_date_time": int(dt.timestamp())}}


def episodes(services) -> list[Episode]:
    with services.sessions() as s:
        return list(s.scalars(select(Episode).order_by(Episode.started_at)))


# -- the report form ---------------------------------------------------------------------------

def test_the_report_form_has_the_practice_fields_from_the_protocol(app, services, slack_stub):
    command(app, "report")
    view = opened_view(slack_stub)
    factors = block(view, "factors")["element"]
    assert factors["type"] == "multi_static_select"
    assert [o["value"] for o in factors["options"]] == list(services.protocol.factors)
    assert [o["text"]["text"] for o in factors["options"]][:2] == ["family conflict", "placement"]
    assert [o["value"] for o in block(view, "concerns")["element"]["options"]] == ["cse", "cce"]
    assert block(view, "reason")["element"]["multiline"] is True


def test_the_report_form_records_reason_factors_and_concerns(app, services, slack_stub):
    command(app, "report")
    view = opened_view(slack_stub)
    body = submit(app, view, {"child_ref": text_input("C50"), "label": text_input("PQ"), "when": text_input("1h ago"),
                              "reason": text_input("  stayed out with   friends "), "factors": multi("relationships", "peers"),
                              "concerns": ticks("cce")})
    assert body == {}
    [e] = episodes(services)
    assert e.reasons == "stayed out with friends" and e.factors == ["peers", "relationships"]
    assert (e.cse_concern, e.cce_concern) == (False, True)
    confirmation = slack_stub.posts("chat.postEphemeral")[-1]["text"]
    assert "a CCE concern" in confirmation and "friends" not in confirmation


def test_inline_values_for_a_new_child_are_carried_into_the_form(app, services, slack_stub):
    command(app, "report C60 at 08:00 reason ran after a row factors placement cse yes")
    view = opened_view(slack_stub)
    assert block(view, "reason")["element"]["initial_value"] == "ran after a row"
    assert [o["value"] for o in block(view, "factors")["element"]["initial_options"]] == ["placement"]
    assert [o["value"] for o in block(view, "concerns")["element"]["initial_options"]] == ["cse"]


def test_a_bad_report_form_shows_the_field_and_saves_nothing(app, services, slack_stub):
    command(app, "report")
    view = opened_view(slack_stub)
    body = submit(app, view, {"child_ref": text_input("C70"), "label": text_input("RS"), "when": text_input("now"),
                              "factors": multi("peers", "gangs")})
    assert body["response_action"] == "errors" and "Choose from the list: family conflict" in body["errors"]["factors"]
    body = submit(app, view, {"child_ref": text_input("C70"), "label": text_input("RS"), "when": text_input("now"),
                              "reason": text_input("x" * 1001)})
    assert "too long" in body["errors"]["reason"]
    with services.sessions() as s:
        assert s.scalars(select(Child)).all() == [] and s.scalars(select(Episode)).all() == []


# -- the interview form (the overdue alert's button) -----------------------------------------------

def interview_form(app, services, slack_stub, clock) -> dict:
    child(services, "C80", "TU")
    report(services, "C80", clock.now - timedelta(hours=4))
    found(services, "C80", clock.now)
    clock.advance(hours=72)
    sweep(services)
    post = next(c.args for c in slack_stub.calls if c.method == "chat.postMessage"
                and c.args.get("channel") == ALERT_CHANNEL and c.args["text"].startswith("Return interview overdue"))
    value = next(el["value"] for b in post["blocks"] for el in b.get("elements", [])
                 if el.get("action_id") == "alert_record_ri")
    dispatch(app, block_actions_body("alert_record_ri", value))
    return opened_view(slack_stub)


def test_the_interview_form_records_every_detail(app, services, slack_stub, clock):
    view = interview_form(app, services, slack_stub, clock)
    for block_id in ("independent", "offered", "account", "followup", "reason", "factors", "concerns"):
        assert block(view, block_id)
    returned_at = clock.now - timedelta(hours=72)
    values = {"outcome": pick("completed"), "at": when(clock.now - timedelta(hours=1)),
              "by": text_input("Sam (Independent Return Service)"), "independent": pick("yes"),
              "offered": when(returned_at + timedelta(hours=2)), "account": text_input("went to the city with friends"),
              "followup": text_input("safety plan review"), "factors": multi("peers"), "concerns": ticks("cse")}
    assert submit(app, view, values) == {}
    [e] = episodes(services)
    assert (e.ri_outcome, e.ri_by, e.ri_independent) == ("completed", "Sam (Independent Return Service)", True)
    assert e.ri_offered_at == returned_at + timedelta(hours=2)
    assert e.ri_account == "went to the city with friends" and e.ri_followup == "safety plan review"
    assert e.factors == ["peers"] and e.cse_concern is True and e.ri_recorded_by


def test_a_bad_interview_form_shows_the_field_and_saves_nothing(app, services, slack_stub, clock):
    view = interview_form(app, services, slack_stub, clock)
    returned_at = clock.now - timedelta(hours=72)
    base = {"outcome": pick("completed"), "at": when(clock.now - timedelta(hours=1))}
    early = submit(app, view, {**base, "offered": when(returned_at - timedelta(hours=1))})
    assert "offered before the return" in early["errors"]["offered"]
    long = submit(app, view, {**base, "account": text_input("y" * 2001)})
    assert "too long" in long["errors"]["account"]
    bad = submit(app, view, {**base, "factors": multi("nonsense")})
    assert "Choose from the list" in bad["errors"]["factors"]
    [e] = episodes(services)
    assert e.ri_outcome is None and e.ri_account == "" and e.factors is None
