"""The alert buttons that ask for details in Teams: "Record interview outcome" and "Strategy meeting
held" answer with a form in the card itself (Teams' Universal Actions: the invoke's answer replaces
the card for the presser), and its Save sends the inputs back as another invoke.

The form's values become the same command a user would type (`interview C1234 completed at …`,
`held C1234 strategy at …`) and go through the one router, with its grammar, rules and refusals;
a missing field or a refusal brings the form back with the error shown, and nothing is saved.
(Issue 10's neutral forms will replace these two definitions with the Slack modals' own.)"""
from __future__ import annotations

from bot.messages import Field, Form

INTERVIEW, HELD = "form.interview", "form.held"
OUTCOMES = [("completed", "Completed"), ("declined", "Declined by the child"), ("voided", "Not needed (voided)")]
KINDS = [("strategy", "Strategy meeting"), ("discussion", "Strategy discussion"), ("ipm", "Intervention planning meeting")]


def form_for(form_id: str, alert_id: int, child_ref: str, errors: dict | None = None,
             values: dict | None = None) -> Form:
    values = values or {}
    if form_id == INTERVIEW:
        fields = [Field("outcome", "choice", "Outcome", choices=OUTCOMES, required=True, initial=values.get("outcome")),
                  Field("when", "datetime", "When (UK time)", required=True),
                  Field("by", "text", "By (who held it)", max_length=100, initial=values.get("by"))]
        title = f"Return interview: {child_ref}"
    else:
        fields = [Field("kind", "choice", "Meeting", choices=KINDS, required=True, initial=values.get("kind") or "strategy"),
                  Field("when", "datetime", "When (UK time)", required=True)]
        title = f"Meeting held: {child_ref}"
    return Form(form_id, title, fields, submit="Save", meta=str(alert_id), errors=dict(errors or {}))


def _quoted(text: str) -> str:
    return '"' + " ".join(text.replace('"', "'").split()) + '"'


def command(form_id: str, child_ref: str, values: dict) -> tuple[str | None, dict]:
    """The command these values stand for, or (None, field errors)."""
    errors = {}
    key = "outcome" if form_id == INTERVIEW else "kind"
    allowed = {v for v, _ in (OUTCOMES if form_id == INTERVIEW else KINDS)}
    if values.get(key) not in allowed:
        errors[key] = "Choose one."
    when = values.get("when") or ""
    if len(when.split()) != 2:
        errors["when"] = "Give the date and the time."
    if errors:
        return None, errors
    if form_id == INTERVIEW:
        text = f"interview {child_ref} {values['outcome']} at {when}"
        if values.get("by"):
            text += f" by {_quoted(values['by'])}"
        return text, {}
    return f"held {child_ref} {values['kind']} at {when}", {}
