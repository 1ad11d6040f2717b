"""Neutral forms (bot/messages.Form) as Slack modals, and Slack's submitted `view.state.values`
read back into the neutral dict of field name -> value.

Each field is an input block whose `block_id` is the field's name and whose element's
`action_id` is "value". Kinds: text, multiline, number -> plain text input; choice -> static
select; choices -> multi static select; checks -> checkboxes; date -> date picker; datetime ->
date-time picker; time -> time picker; person -> user select; place -> conversation select;
file -> file input (its `choices` are the accepted file types); note -> a context line;
heading -> a header. The form's `id` is the view's callback id, its `meta` the private metadata.

Values read back: text as typed (stripped; empty is absent), a choice's value, a list of values,
a date as `YYYY-MM-DD`, a date-time as an aware UTC datetime, a time as `HH:MM`, a user or
conversation id, a list of uploaded files ({"id", "name"})."""
from __future__ import annotations

from datetime import date, datetime, timezone

from bot.messages import Field, Form
from handlers.slack.render import mrkdwn

ACTION = "value"


def _plain(text: str, limit: int = 75) -> dict:
    return {"type": "plain_text", "text": (text or " ")[:limit]}


def _option(value: str, label: str) -> dict:
    return {"text": _plain(label), "value": value}


def _element(f: Field) -> dict:
    kind = f.kind
    options = [_option(v, label) for v, label in f.choices]
    if kind in ("text", "multiline", "number"):
        el: dict = {"type": "plain_text_input", "action_id": ACTION}
        if kind == "multiline":
            el["multiline"] = True
        if f.max_length:
            el["max_length"] = f.max_length
        if f.initial not in (None, ""):
            el["initial_value"] = str(f.initial)
    elif kind == "choice":
        el = {"type": "static_select", "action_id": ACTION, "options": options}
        chosen = [o for o in options if o["value"] == f.initial]
        if chosen:
            el["initial_option"] = chosen[0]
    elif kind in ("choices", "checks"):
        el = {"type": "multi_static_select" if kind == "choices" else "checkboxes", "action_id": ACTION,
              "options": options}
        chosen = [o for o in options if o["value"] in (f.initial or [])]
        if chosen:
            el["initial_options"] = chosen
    elif kind == "date":
        el = {"type": "datepicker", "action_id": ACTION}
        if isinstance(f.initial, date):
            el["initial_date"] = f.initial.isoformat()
        elif f.initial:
            el["initial_date"] = str(f.initial)
    elif kind == "datetime":
        el = {"type": "datetimepicker", "action_id": ACTION}
        if isinstance(f.initial, datetime):
            el["initial_date_time"] = int(f.initial.timestamp())
    elif kind == "time":
        el = {"type": "timepicker", "action_id": ACTION}
        if f.initial:
            el["initial_time"] = str(f.initial)
    elif kind == "person":
        el = {"type": "users_select", "action_id": ACTION}
        if f.initial:
            el["initial_user"] = f.initial
    elif kind == "place":
        el = {"type": "conversations_select", "action_id": ACTION, "filter": {"include": ["public", "private"]}}
        if f.initial:
            el["initial_conversation"] = f.initial
    elif kind == "file":
        el = {"type": "file_input", "action_id": ACTION, "max_files": 1}
        if f.choices:
            el["filetypes"] = [v for v, _ in f.choices]
    else:
        raise ValueError(f"no Slack element for a {kind} field")
    if f.placeholder and el["type"] not in ("checkboxes", "file_input", "datetimepicker"):
        el["placeholder"] = _plain(f.placeholder, 150)
    return el


def block_of(f: Field) -> dict:
    if f.kind == "note":
        return {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn(f.label)[:2000]}]}
    if f.kind == "heading":
        return {"type": "header", "text": _plain(f.label, 150)}
    block = {"type": "input", "block_id": f.name, "optional": not f.required, "label": _plain(f.label, 2000),
             "element": _element(f)}
    if f.hint:
        block["hint"] = _plain(f.hint, 2000)
    return block


def view_of(form: Form) -> dict:
    """The modal view of a form (views.open)."""
    view = {"type": "modal", "callback_id": form.id, "title": _plain(form.title, 24),
            "submit": _plain(form.submit, 24), "close": _plain("Cancel"),
            "blocks": [block_of(f) for f in form.fields]}
    if form.meta:
        view["private_metadata"] = form.meta
    return view


def notice_view(title: str, text: str) -> dict:
    """A view that only says something (a form's answer while work goes on after it closed)."""
    return {"type": "modal", "title": _plain(title, 24), "close": _plain("Close"),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn(text)[:3000]}}]}


def errors_of(errors: dict[str, str]) -> dict[str, str]:
    """Field errors as Slack shows them beside the blocks (at most 150 characters each... Slack's limit is
    generous, the bot keeps them short)."""
    return {name: message[:2000] for name, message in errors.items()}


def _read(element: dict):
    kind = element.get("type")
    if kind == "plain_text_input":
        return (element.get("value") or "").strip() or None
    if kind in ("static_select", "radio_buttons"):
        return (element.get("selected_option") or {}).get("value")
    if kind in ("checkboxes", "multi_static_select"):
        return [o.get("value") for o in element.get("selected_options") or []]
    if kind == "datepicker":
        return element.get("selected_date")
    if kind == "datetimepicker":
        stamp = element.get("selected_date_time")
        if stamp is None:
            return None
        try:
            return datetime.fromtimestamp(int(stamp), timezone.utc)
        except (TypeError, ValueError, OverflowError, OSError):
            return str(stamp)  # not a time: the form's check says so beside the field
    if kind == "timepicker":
        return element.get("selected_time")
    if kind == "users_select":
        return element.get("selected_user")
    if kind == "conversations_select":
        return element.get("selected_conversation")
    if kind == "file_input":
        return [{"id": f.get("id"), "name": f.get("name")} for f in element.get("files") or [] if f.get("id")] or None
    return None


def values_of(state_values: dict) -> dict:
    """Slack's `view.state.values` ({block_id: {action_id: element}}) as field name -> value."""
    out: dict = {}
    if not isinstance(state_values, dict):
        return out
    for name, actions in state_values.items():
        element = (actions or {}).get(ACTION) if isinstance(actions, dict) else None
        if isinstance(element, dict):
            value = _read(element)
            if value is not None:
                out[name] = value
    return out
