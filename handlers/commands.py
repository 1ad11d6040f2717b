"""The neutral router: one place that turns a line of text, a button press or a submitted form
into a reply, whatever the platform (handlers/slack/app.py for Slack, the console, the tests).

The tables are explicit: `COMMANDS` (the `/missing` subcommands, in the order `/missing help`
lists them), `ACTIONS` (button id -> handler(ctx, value)) and `FORMS` (form id -> handler(ctx,
values, meta)). Each entry runs in one transaction; every failure is mapped to the reply by
handlers/errors.py."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from bot.auth import ADMIN_REFUSAL
from bot.context import Ctx, Services, wake_deliverer
from bot.messages import Form, Message
from handlers import audit, clock, corrections, figures, imports, meetings, modals, record, views
from handlers.errors import failure_fields, failure_reply, log_failure  # noqa: F401 - log_failure re-exported
from handlers.registry import FieldErrors, Reply, Subcommand, subcommand
from store.outbox import queued


@subcommand("help", usage="/missing help", summary="this list", read_only=True)
def help_(ctx: Ctx, text: str) -> Reply:
    lines = ["*missing-bot* — record children missing from home or care, and run the protocol's clock.", ""]
    for entry in HELP:
        if entry.admin and not ctx.is_admin:
            continue
        lines.append(f"`{entry.usage}` — {entry.summary}")
        for ex in entry.examples[:1]:
            lines.append(f"    e.g. `{ex}`")
    return Reply("\n".join(lines + views.help_notes(ctx)))


# The subcommands in the order `/missing help` lists them.
HELP: list[Subcommand] = [fn.subcommand for fn in (
    record.report, record.found, record.interview, record.concern, record.held, record.child, record.risk,
    views.status, views.open_now, views.due, help_, clock.health,
    meetings.meeting, meetings.agenda, meetings.action, figures.stats, figures.export, imports.import_command,
    corrections.withdraw, corrections.amend, audit.audit_trail)]
COMMANDS: dict[str, Subcommand] = {key: entry for entry in HELP for key in (entry.name, *entry.aliases)}


def find(name: str) -> Subcommand | None:
    return COMMANDS.get(name.lower())


def unknown(word: str) -> Reply:
    names = ", ".join(f"`{e.name}`" for e in HELP)
    return Reply(f":grey_question: I don't know `{word[:30]}`. Try one of {names}, or `/missing help`.")


def run_command(services: Services, *, user_id: str, channel_id: str, text: str, is_admin: bool,
                trigger_id: str | None = None) -> Reply:
    """`text` as the user typed it (the platform edge undoes its own escaping)."""
    # Text copied from a web page brings non-breaking spaces.
    text = re.sub(r"\s+", " ", text or "").strip()
    word, _, rest = text.partition(" ")
    entry = find(word or "help")
    if entry is None:
        return unknown(word)
    if entry.admin and not is_admin:
        return Reply(ADMIN_REFUSAL)
    try:
        with (services.reads if entry.read_only else services.sessions).begin() as session:
            ctx = Ctx(services=services, session=session, user_id=user_id, channel_id=channel_id,
                      now=services.now(), is_admin=is_admin, trigger_id=trigger_id)
            reply = entry.handler(ctx, rest.strip())
            wake = queued(session)
    except Exception as exc:  # noqa: BLE001 - one place maps every failure to a reply
        return failure_reply(exc, f"/missing {entry.name}", entry.examples[0] if entry.examples else "")
    if wake:  # only a change that queued a message has anything for the deliverer
        wake_deliverer(services)
    return reply


# -- buttons ---------------------------------------------------------------------------------
# action id -> handler(ctx, value) -> a Message for the user who pressed, a Form to open, or None.
ACTIONS: dict[str, Callable[[Ctx, str], Message | Form | None]] = {
    clock.ACK: clock.acknowledge,
    clock.STRATEGY_HELD: clock.strategy_held,
    clock.RECORD_RI: clock.record_ri,
}


@dataclass
class Outcome:
    """What a button or a form submission led to: the answer, a form to open, or field errors."""

    reply: Message | None = None
    form: Form | None = None
    errors: dict[str, str] = field(default_factory=dict)


def press(services: Services, *, action_id: str, value: str, user_id: str, channel_id: str = "",
          is_admin: bool = False) -> Outcome:
    handler = ACTIONS.get(action_id)
    if handler is None:
        return Outcome()
    try:
        with services.sessions.begin() as session:
            ctx = Ctx(services=services, session=session, user_id=user_id, channel_id=channel_id,
                      now=services.now(), is_admin=is_admin)
            result = handler(ctx, value)
            wake = queued(session)
    except Exception as exc:  # noqa: BLE001
        return Outcome(reply=failure_reply(exc, f"button {action_id}"))
    if wake:
        wake_deliverer(services)
    if isinstance(result, Form):
        return Outcome(form=result)
    return Outcome(reply=result)


# -- forms ---------------------------------------------------------------------------------
# What to use instead when a platform cannot open a form.
FORM_INSTEAD: dict[str, str] = dict(clock.INSTEAD)


@dataclass
class FormHandler:
    submit: Callable[[Ctx, dict, str], Message | str | None]
    field: str  # a field every form of this kind has: where a problem without a field is shown
    admin: bool = False


FORMS: dict[str, FormHandler] = {
    modals.REPORT_FORM: FormHandler(record.submit_report, "when"),
    modals.CHILD_FORM: FormHandler(record.submit_child, "label"),
    clock.RI_FORM: FormHandler(clock.ri_submitted, "outcome"),
    clock.HELD_FORM: FormHandler(clock.held_submitted, "at"),
    meetings.SETUP_FORM: FormHandler(meetings.submit_setup, "name"),
}


def submit_form(services: Services, *, form_id: str, values: dict, meta: str, user_id: str,
                is_admin: bool = False) -> Outcome:
    """Validate and save a submitted form. Nothing is saved unless every field is valid."""
    handler = FORMS.get(form_id)
    if handler is None:
        return Outcome()
    try:
        with services.sessions.begin() as session:
            ctx = Ctx(services=services, session=session, user_id=user_id, channel_id=modals.meta_channel(meta),
                      now=services.now(), is_admin=is_admin)
            result = handler.submit(ctx, values, meta)
            wake = queued(session)
    except Exception as exc:  # noqa: BLE001
        return Outcome(errors=failure_fields(exc, f"form {form_id}", handler.field))
    if wake:
        wake_deliverer(services)
    reply = Reply(result) if isinstance(result, str) else result
    return Outcome(reply=reply)


__all__ = ["ACTIONS", "COMMANDS", "FORMS", "FieldErrors", "Outcome", "find", "press", "run_command", "submit_form"]
