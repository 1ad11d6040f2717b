"""`/missing import` (admins): a CSV of past episodes uploaded through a form.

The command opens a form with a file field. On submission the form closes at once and, after
the acknowledgement, the platform edge fetches the file (Slack: handlers/slack/files.py) and
hands it to `run_import`, which imports it exactly as `missing-bot import` does (all or nothing;
re-importing changes nothing) and sends the result, or every problem as `line N, column:
problem`, to the admin's direct message with the bot. The result goes through the outbox in the
import's own transaction, like every other message."""
from __future__ import annotations

import logging
from typing import Callable

from sqlalchemy.exc import IntegrityError

from bot.context import Ctx, Services
from bot.messages import Field, Form
from bot.protocol.csvimport import Problems
from handlers.errors import log_failure
from handlers.registry import Reply, subcommand
from store.outbox import enqueue

log = logging.getLogger(__name__)

CALLBACK = "import_csv"
BLOCK, ACTION = "file", "value"
COLUMNS = ("child_ref, child_label, date_of_birth, gender, looked_after, placement_type, out_of_area, placed_by, "
           "placed_in, episode_type, missing_from, started_at, returned_at, risk_grade, police_ref, found_location, reason, cse_concern, "
           "cce_concern, ri_outcome, ri_at")


IMPORT_FORM = CALLBACK
IMPORTING = "Importing… I will send you the result in a direct message."


def import_form() -> Form:
    return Form(IMPORT_FORM, "Import history", [
        Field(BLOCK, "file", "CSV file of past episodes", choices=[("csv", "CSV")], required=True),
        Field("columns", "note", f"One row per episode, with the columns `{COLUMNS}`. All or nothing: if any row is "
                                 "wrong, nothing is imported and I tell you every problem by line. Importing the same "
                                 "file again changes nothing."),
    ], submit="Import")


def check_submission(is_admin: bool, values: dict) -> dict[str, str]:
    """The field errors of a submitted import form (none: the import may start)."""
    if not is_admin:
        return {BLOCK: "Only administrators can import history."}
    if not values.get(BLOCK):
        return {BLOCK: "Choose a CSV file to import."}
    return {}


@subcommand("import", usage="/missing import",
            summary="import past episodes from a CSV file you upload (admins; the result comes by direct message)",
            examples=["/missing import"], admin=True)
def import_command(ctx: Ctx, args: str) -> Reply:
    return Reply("Opening the import form…", form=import_form())


def run_import(services: Services, user: str, file_id: str, fetch: Callable[[str], tuple[str, bytes]]) -> None:
    """Fetch (the platform's `fetch(file_id) -> (name, bytes)`), import and tell `user` what
    happened. Never raises: every outcome is a message."""
    from store.imports import import_csv

    now = services.now()
    key = f"import:{user}:{file_id}:{now.isoformat()}"
    name, outcome = "the file", ""
    try:
        name, data = fetch(file_id)
        with services.sessions.begin() as session:
            ctx = Ctx(services=services, session=session, user_id=user, channel_id=user, now=now, is_admin=True)
            result = import_csv(ctx, data)
            enqueue(session, key=key, kind="import.result", channel=user, now=now,
                    text=f":white_check_mark: Imported {name}: {result.summary()}")
    except Problems as exc:
        shown = exc.problems  # at most MAX_PROBLEMS, and a line counting the rest
        outcome = (f":warning: Nothing was imported from {name}: {exc.total} problem(s).\n"
                   + "\n".join(f"• {p}" for p in shown)
                   + "\nMend the file and run `/missing import` again.")
    except IntegrityError:
        outcome = ":warning: The record changed while the file was being imported, so nothing was imported. Try again."
    except Exception as exc:  # noqa: BLE001 - a clear answer for the admin; the log gets the type only
        ref = log_failure("/missing import", exc)
        outcome = (f":warning: I could not fetch or import the file (ref {ref}); nothing was imported. "
                   "Try again, or use `missing-bot import <file.csv>` on the server.")
    if outcome:
        with services.sessions.begin() as session:
            enqueue(session, key=key, kind="import.result", channel=user, now=now, text=outcome)
    services.on_enqueued()
