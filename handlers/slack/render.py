"""Neutral messages (bot/messages.py) as Slack: mrkdwn text and Block Kit.

Every plain string is escaped (`&`, `<`, `>`), so nothing anyone typed becomes a mention, a
broadcast or a link; people and places are the only mentions, and they come from the bot."""
from __future__ import annotations

import re

from bot.messages import Message, Person, Place, Rich, as_rich
from bot.platforms import SLACK, user_platform

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
_BARE_BROADCAST = re.compile(r"(?<![\w&])@(channel|here|everyone)\b", re.IGNORECASE)


def escape(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BARE_BROADCAST.sub(lambda m: "@\u200b" + m.group(1), text)


def mrkdwn(value: Rich | str) -> str:
    out = []
    for s in as_rich(value):
        if isinstance(s, Person):
            # A Slack user is a mention; anyone else (a Teams user, in an audit trail) is named as text.
            out.append(f"<@{s.id}>" if user_platform(s.id) == SLACK else escape(f"Teams user {s.id}"))
        elif isinstance(s, Place):
            out.append(f"<#{s.id}>")
        else:
            out.append(escape(s))
    return "".join(out)


def plain_text(value: Rich | str, limit: int) -> dict:
    return {"type": "plain_text", "text": as_rich(value).plain()[:limit] or " "}


def blocks_of(msg: Message) -> list[dict] | None:
    """Block Kit for a message, or None when its text says everything (a plain reply)."""
    if not (msg.headline or msg.sections or msg.facts or msg.notes or msg.actions):
        return None
    blocks: list[dict] = []
    if msg.sections:  # a document-like message: a header, its small print, then one block a paragraph
        if msg.headline:
            blocks.append({"type": "header", "text": plain_text(msg.headline, 150)})
        for note in msg.notes:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn(note)[:2000]}]})
        for p in ([msg.text] if msg.text else []) + list(msg.sections):
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn(p)[:MAX_SECTION_TEXT]}})
            blocks.append({"type": "divider"})
        return blocks[:MAX_BLOCKS]
    body = mrkdwn(msg.text)
    if msg.facts:
        body += "".join(f"\n*{escape(label)}:* {mrkdwn(value)}" for label, value in msg.facts)
    if msg.headline:
        body = f"*{mrkdwn(msg.headline)}*" + (f"\n{body}" if body else "")
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body[:MAX_SECTION_TEXT]}})
    for note in msg.notes:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn(note)[:2000]}]})
    buttons = []
    for a in msg.actions:
        button = {"type": "button", "action_id": a.id, "text": {"type": "plain_text", "text": a.label[:75]}}
        if a.value:
            button["value"] = a.value
        if a.style:
            button["style"] = a.style
        if a.url:
            button["url"] = a.url
        buttons.append(button)
    if buttons:
        actions = {"type": "actions", "elements": buttons}
        if msg.ref:
            actions["block_id"] = msg.ref
        blocks.append(actions)
    return blocks


def text_of(msg: Message) -> str:
    """The message's `text`: the whole of a plain reply; the notification line of a message with blocks."""
    if blocks_of(msg) is None:
        return mrkdwn(msg.text)
    return escape(msg.summary())


def render(msg: Message) -> tuple[str, list[dict] | None]:
    blocks = blocks_of(msg)
    return (mrkdwn(msg.text) if blocks is None else escape(msg.summary())), blocks
