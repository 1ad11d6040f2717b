"""Defects found in review of the `/missing` foundation, each shown through Bolt with signed requests."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import select

from store.models import AuditRecord, Child, Episode
from tests.conftest import ALERT_CHANNEL
from tests.slack import command, dispatch, select as pick, text_input, view_submission_body

CHILD = "child C1234 label JB dob 2011-04-23 gender female placement foster_care looked-after yes"


def episodes(services) -> list[Episode]:
    with services.sessions() as s:
        return list(s.scalars(select(Episode).order_by(Episode.started_at)))


def children(services) -> list[Child]:
    with services.sessions() as s:
        return list(s.scalars(select(Child)))


def audit_count(services) -> int:
    with services.sessions() as s:
        return len(s.scalars(select(AuditRecord)).all())


def opened_view(slack_stub) -> dict:
    return slack_stub.posts("views.open")[-1]["view"]


def submit(app, view, values) -> dict:
    resp = dispatch(app, view_submission_body(view, values))
    assert resp.status == 200
    return json.loads(resp.body) if resp.body else {}


def test_interview_of_the_last_return_while_the_child_is_missing_again(app, services):
    # Found on Wednesday, interviewed, missing again before anyone typed the outcome.
    command(app, CHILD)
    command(app, "report C1234 at 2026-11-17 20:00")
    command(app, "found C1234 at 2026-11-18 08:00")
    command(app, "report C1234 at 1h ago")
    reply = command(app, "interview C1234 completed at 2026-11-18 15:00 by Jo")
    assert "return interview *completed*" in reply["text"], reply["text"]
    first, second = episodes(services)
    assert (first.ri_outcome, first.ri_by) == ("completed", "Jo")
    assert second.returned_at is None and second.ri_outcome is None


def test_copied_non_breaking_spaces_and_line_breaks_are_spaces(app, services):
    # A case reference copied from the case system's web page often brings a non-breaking space.
    command(app, CHILD)
    reply = command(app, "report\u00a0C1234\u00a0at 09:30")
    assert "Recorded: C1234 (JB)" in reply["text"], reply["text"]
    reply = command(app, "found C1234\nat 09:45")
    assert "returned" in reply["text"], reply["text"]
    [ep] = episodes(services)
    assert ep.returned_at == datetime(2026, 11, 19, 9, 45, tzinfo=timezone.utc)


def test_ampersand_escaped_by_slack_is_stored_as_typed(app, services):
    # Slack sends `&` in command text as `&amp;` (and < > as &lt; &gt;).
    command(app, CHILD)
    reply = command(app, "report C1234 from B&amp;B, High St")
    assert "B&amp;B, High St" in reply["text"]  # what Slack shows as B&B (the bot escapes every plain string)
    assert episodes(services)[0].missing_from == "B&B, High St"


def test_grades_placements_and_outcomes_typed_in_plain_words(app, services):
    command(app, "child C1234 label JB placement foster care looked-after yes")
    assert children(services)[0].placement_type == "foster_care"
    command(app, "report C1234 at 08:00 risk no apparent risk")
    assert episodes(services)[0].risk_grade == "no_apparent_risk"
    command(app, "risk C1234 high")
    reply = command(app, "risk C1234 No Apparent Risk")
    assert "risk now *no apparent risk*" in reply["text"], reply["text"]
    command(app, "found C1234")
    reply = command(app, "interview C1234 complete")
    assert "*completed*" in reply["text"], reply["text"]


def test_a_label_cannot_carry_slack_markup_into_the_channel(app, services, slack_stub):
    # From a form, text arrives raw: `<!channel>` in a label would ping the whole team channel.
    command(app, "report C901")
    view = opened_view(slack_stub)
    body = submit(app, view, {"child_ref": text_input("C901"), "label": text_input("<!channel>"),
                              "when": text_input("now")})
    assert body.get("response_action") == "errors" and "label" in body["errors"], body
    command(app, "child C902")
    body = submit(app, opened_view(slack_stub), {"label": text_input("<@U0BOSS001>")})
    assert body.get("response_action") == "errors" and "label" in body["errors"], body
    # Inline (Slack escapes < and >) it is refused too, with an example.
    reply = command(app, "child C903 label &lt;!channel&gt;")
    assert reply["text"].startswith(":warning:") and "For example" in reply["text"]
    assert children(services) == [] and episodes(services) == []
    assert not any("<!channel>" in p.get("text", "") for p in slack_stub.posts() if p.get("channel") == ALERT_CHANNEL)


def test_every_refusal_has_an_example(app, services):
    command(app, CHILD)
    command(app, "report C1234 at 08:00")
    before = audit_count(services)
    for text in ("found C1234 location " + "x" * 201, "interview C1234 completed by " + "y" * 101):
        reply = command(app, text)
        assert reply["text"].startswith(":warning:") and "For example: `/missing" in reply["text"], (text, reply)
    assert audit_count(services) == before


def test_second_found_says_the_child_is_back_not_to_report_again(app, services):
    command(app, CHILD)
    command(app, "report C1234 at 08:00")
    command(app, "found C1234 at 09:00")
    reply = command(app, "found C1234")
    assert "already returned" in reply["text"] and "09:00" in reply["text"], reply["text"]
    assert "/missing report" not in reply["text"]
    assert len(episodes(services)) == 1


def test_already_missing_refusal_names_this_childs_command(app, services):
    command(app, "child C2000 label KT")
    command(app, "report C2000 at 08:00")
    reply = command(app, "report C2000")
    assert "already recorded missing" in reply["text"] and "/missing found C2000" in reply["text"], reply["text"]


def test_month_first_dates_are_explained(app, services):
    command(app, CHILD)
    reply = command(app, "report C1234 at 11/18/2026 14:30")
    assert "day/month/year" in reply["text"], reply["text"]
    assert episodes(services) == []


def test_child_form_failure_points_at_a_field_the_form_has(app, services, slack_stub, monkeypatch):
    # Two people saving the same new child at once: the database refuses the second.
    from sqlalchemy.exc import IntegrityError

    from store import records

    command(app, "child C555")
    view = opened_view(slack_stub)

    def clash(*args, **kwargs):
        raise IntegrityError("insert", {}, Exception("duplicate"))

    monkeypatch.setattr(records, "upsert_child", clash)
    body = submit(app, view, {"label": text_input("MN"), "placement": pick("home")})
    assert body.get("response_action") == "errors"
    block_ids = {b.get("block_id") for b in view["blocks"]}
    assert set(body["errors"]) <= block_ids, body["errors"]
