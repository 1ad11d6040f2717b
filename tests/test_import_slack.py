"""`/missing import`: an admin uploads a CSV through a form; the bot fetches it from (fake) Slack
with its token, imports it all or nothing, and answers by direct message."""
from __future__ import annotations

import json
import time

from sqlalchemy import func, select

from store.models import AuditRecord, Episode
from tests.conftest import ADMIN_USER, BOT_TOKEN, DUTY_USER
from tests.slack import command, dispatch, view_submission_body
from tests.test_import import GOOD, csv_bytes, row


def file_input(file_id: str | None, name: str = "history.csv") -> dict:
    files = [{"id": file_id, "name": name, "filetype": "csv"}] if file_id else []
    return {"file": {"value": {"type": "file_input", "files": files}}}


def open_form(app, slack_stub) -> dict:
    reply = command(app, "import", user_id=ADMIN_USER)
    assert "import form" in reply["text"]
    view = slack_stub.posts("views.open")[-1]["view"]
    [element] = [b["element"] for b in view["blocks"] if b.get("block_id") == "file"]
    assert element["type"] == "file_input" and element["filetypes"] == ["csv"]
    return view


def submit(app, view, values, user=ADMIN_USER) -> dict:
    resp = dispatch(app, view_submission_body(view, values, user_id=user))
    assert resp.status == 200
    return json.loads(resp.body) if resp.body else {}


def episodes(services) -> int:
    with services.sessions() as s:
        return s.scalar(select(func.count()).select_from(Episode))


def dm(slack_stub, user=ADMIN_USER) -> str:
    """The one direct message to `user` (the import runs after the form closes, so wait for it)."""
    deadline = time.monotonic() + 30
    while not (posts := [p for p in slack_stub.posts() if p["channel"] == user]) and time.monotonic() < deadline:
        time.sleep(0.01)
    [post] = posts
    return post["text"]


def test_admin_uploads_a_csv_and_gets_the_result_by_direct_message(app, services, slack_stub):
    view = open_form(app, slack_stub)
    file_id = slack_stub.add_file("history.csv", GOOD)
    answer = submit(app, view, file_input(file_id))
    assert answer["response_action"] == "update" and "direct message" in json.dumps(answer["view"])

    text = dm(slack_stub)
    assert text.startswith(":white_check_mark: Imported history.csv:") and "episodes added" in text
    assert episodes(services) > 0
    downloads = [c for c in slack_stub.calls if c.method == "download"]
    assert downloads and downloads[0].headers["authorization"] == f"Bearer {BOT_TOKEN}"
    with services.sessions() as s:
        actors = set(s.scalars(select(AuditRecord.actor).where(AuditRecord.action.like("import%"))))
    assert actors == {ADMIN_USER}


def test_a_bad_file_imports_nothing_and_lists_every_problem_by_line(app, services, slack_stub):
    view = open_form(app, slack_stub)
    bad = csv_bytes(row(), row(start="2025-13-01 10:00"), row(child_ref="T200", gender="robot"))
    submit(app, view, file_input(slack_stub.add_file("bad.csv", bad)))
    text = dm(slack_stub)
    assert text.startswith(":warning: Nothing was imported from bad.csv: 2 problem(s).")
    assert "line 3, started_at" in text and "line 4, gender" in text
    assert episodes(services) == 0


def test_no_file_is_refused_in_the_form_and_others_cannot_import(app, services, slack_stub):
    view = open_form(app, slack_stub)
    assert submit(app, view, file_input(None)) == {"response_action": "errors",
                                                    "errors": {"file": "Choose a CSV file to import."}}
    file_id = slack_stub.add_file("history.csv", GOOD)
    refused = submit(app, view, file_input(file_id), user=DUTY_USER)
    assert refused["response_action"] == "errors" and "administrators" in refused["errors"]["file"]
    assert "administrators" in command(app, "import", user_id=DUTY_USER)["text"]
    assert not [c for c in slack_stub.calls if c.method in ("files.info", "download")]
    assert episodes(services) == 0


def test_a_download_slack_refuses_is_reported_without_importing(app, services, slack_stub):
    view = open_form(app, slack_stub)
    submit(app, view, file_input("F_UNKNOWN"))
    text = dm(slack_stub)
    assert "could not fetch or import the file" in text and "nothing was imported" in text
    assert episodes(services) == 0


def test_a_file_with_many_problems_gets_the_first_fifty_and_the_count_of_all(app, services, slack_stub):
    view = open_form(app, slack_stub)
    same = csv_bytes(*[row(child_ref="M1", ri="", ri_at="") for _ in range(120)])  # 119 repeats of line 2
    submit(app, view, file_input(slack_stub.add_file("many.csv", same)))
    text = dm(slack_stub)
    assert text.startswith(":warning: Nothing was imported from many.csv: 119 problem(s).")
    assert "• line 51, started_at" in text and "line 52, started_at" in text and "line 53," not in text
    assert "• and 69 more problem(s) after line 52; fix these and try again" in text
    assert episodes(services) == 0
