"""`/missing import` (admins): a CSV of past episodes uploaded through a Slack form.

The command opens a form with a file input. On submission the form closes at once and a lazy
listener (which Bolt runs after the acknowledgement) fetches the file from Slack with the bot
token (`files.info`, then its private download URL), imports it exactly as `missing-bot import`
does (all or nothing; re-importing changes nothing), and sends the result, or every problem
as `line N, column: problem`, to the admin's direct message with the bot. The result goes
through the outbox in the import's own transaction, like every other message."""
from __future__ import annotations

import logging
import urllib.error
import urllib.request

from sqlalchemy.exc import IntegrityError

from bot.context import Ctx, Services
from bot.protocol.csvimport import MAX_BYTES, Problems
from handlers.registry import Reply, subcommand
from store.outbox import enqueue

log = logging.getLogger(__name__)

CALLBACK = "import_csv"
BLOCK, ACTION = "file", "value"
COLUMNS = ("child_ref, child_label, date_of_birth, gender, looked_after, placement_type, out_of_area, placed_by, "
           "placed_in, episode_type, missing_from, started_at, returned_at, risk_grade, police_ref, found_location, reason, cse_concern, "
           "cce_concern, ri_outcome, ri_at")


def import_view() -> dict:
    return {
        "type": "modal", "callback_id": CALLBACK,
        "title": {"type": "plain_text", "text": "Import history"},
        "submit": {"type": "plain_text", "text": "Import"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "input", "block_id": BLOCK, "label": {"type": "plain_text", "text": "CSV file of past episodes"},
             "element": {"type": "file_input", "action_id": ACTION, "filetypes": ["csv"], "max_files": 1}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text":
                f"One row per episode, with the columns `{COLUMNS}`. All or nothing: if any row is wrong, nothing "
                "is imported and I tell you every problem by line. Importing the same file again changes nothing."}]},
        ],
    }


@subcommand("import", usage="/missing import",
            summary="import past episodes from a CSV file you upload (admins; the result comes by direct message)",
            examples=["/missing import"], admin=True)
def import_command(ctx: Ctx, args: str) -> Reply:
    return Reply("Opening the import form…", modal=import_view())


def submitted_file(view: dict) -> dict | None:
    files = ((((view.get("state") or {}).get("values") or {}).get(BLOCK) or {}).get(ACTION) or {}).get("files") or []
    return files[0] if files else None


def fetch(services: Services, file_id: str) -> tuple[str, bytes]:
    """(file name, contents) of an uploaded file, through the Web API and its private URL."""
    info = services.client.files_info(file=file_id)["file"]
    name = info.get("name") or file_id
    if int(info.get("size") or 0) > MAX_BYTES:
        raise Problems([f"line 1, file: the file is larger than {MAX_BYTES // 2**20} MB; split it"])
    request = urllib.request.Request(info["url_private_download"],
                                     headers={"Authorization": f"Bearer {services.settings.slack_bot_token}"})
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - Slack's own https URL
        data = response.read(MAX_BYTES + 1)
    if data[:15].lstrip().lower().startswith((b"<!doctype", b"<html")):
        # Slack answers an unauthorised download with its sign-in page.
        raise PermissionError("the download gave a web page, not the file: does the app have files:read?")
    return name, data


def run_import(services: Services, user: str, file_id: str) -> None:
    """Fetch, import and tell `user` what happened. Never raises: every outcome is a message."""
    from store.imports import import_csv

    now = services.now()
    key = f"import:{user}:{file_id}:{now.isoformat()}"
    name, outcome = "the file", ""
    try:
        name, data = fetch(services, file_id)
        with services.sessions.begin() as session:
            ctx = Ctx(services=services, session=session, user_id=user, channel_id=user, now=now, is_admin=True)
            result = import_csv(ctx, data)
            enqueue(session, key=key, kind="import.result", channel=user, now=now,
                    text=f":white_check_mark: Imported {name}: {result.summary()}")
    except Problems as exc:
        shown = exc.problems[:50]
        outcome = (f":warning: Nothing was imported from {name}: {len(exc.problems)} problem(s).\n"
                   + "\n".join(f"• {p}" for p in shown)
                   + "\nMend the file and run `/missing import` again.")
    except IntegrityError:
        outcome = ":warning: The record changed while the file was being imported, so nothing was imported. Try again."
    except Exception as exc:  # noqa: BLE001 - a clear answer for the admin; the log gets the type only
        from handlers.commands import log_failure

        ref = log_failure("/missing import", exc)
        outcome = (f":warning: I could not fetch or import the file (ref {ref}); nothing was imported. "
                   "Try again, or use `missing-bot import <file.csv>` on the server.")
    if outcome:
        with services.sessions.begin() as session:
            enqueue(session, key=key, kind="import.result", channel=user, now=now, text=outcome)
    services.on_enqueued()


def register_actions(app, services: Services) -> None:
    """The import form's submission: acknowledged at once, the import itself runs after (lazy)."""
    authorizer = app._missing_authorizer

    def acknowledge(ack, body, view):
        if not authorizer.is_admin(body["user"]["id"]):
            ack(response_action="errors", errors={BLOCK: "Only administrators can import history."})
        elif submitted_file(view) is None:
            ack(response_action="errors", errors={BLOCK: "Choose a CSV file to import."})
        else:
            ack(response_action="update", view={
                "type": "modal", "title": {"type": "plain_text", "text": "Import history"},
                "close": {"type": "plain_text", "text": "Close"},
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text":
                    "Importing… I will send you the result in a direct message."}}]})

    def do_import(body, view):
        if authorizer.is_admin(body["user"]["id"]) and submitted_file(view):
            run_import(services, body["user"]["id"], submitted_file(view)["id"])

    app.view(CALLBACK)(ack=acknowledge, lazy=[do_import])
