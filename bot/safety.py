"""What may reach a Slack channel: one rule, enforced in one place (`store.outbox.enqueue`).

A channel post names a child by case reference and label only, says what happened and what to
do. It never carries a location, a concern, a reason, a date of birth or a police reference:
those go to the person who asked (ephemeral replies, direct messages, forms) or to a private
meeting channel (see `require_private`).

`enqueue` passes every message through `for_slack`: nothing in it can become a broadcast
mention (`<!channel>`, `<!here>`, `<!everyone>`, `<!subteam^…>`) or a link Slack would unfurl,
whoever typed it. Posts to a channel (not a direct message) about a child also pass through
`scrub_child_details`: any of that child's private details (places, police reference, reasons,
date of birth) found in the text is replaced, and the slip is logged (without the value) so it
can be fixed where it was rendered."""
from __future__ import annotations

import logging
import re
from typing import Any

log = logging.getLogger(__name__)

WITHHELD = "(withheld: see /missing status)"
# Slack's control sequences that notify people or turn into links. The bot's own user and channel
# references (<@U…>, <#C…>) stay; everything else in angle brackets is shown as typed.
_SPECIAL = re.compile(r"<(?![@#])")
_BARE_BROADCAST = re.compile(r"(?<![\w&])@(channel|here|everyone)\b", re.IGNORECASE)


def neutralise(text: str) -> str:
    """User-typed text, made inert: shown as typed, never a mention or a link."""
    text = (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BARE_BROADCAST.sub(lambda m: "@\u200b" + m.group(1), text)


def for_slack(text: str) -> str:
    """The whole message: broadcast mentions and links defused; the bot's <@U…>/<#C…> kept."""
    if not text:
        return text
    text = _SPECIAL.sub("&lt;", text)
    return _BARE_BROADCAST.sub(lambda m: "@\u200b" + m.group(1), text)


def _walk(value: Any, fn) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_walk(v, fn) for v in value]
    if isinstance(value, dict):
        # ids, urls and option values are the bot's own; only what is shown is rewritten
        return {k: (_walk(v, fn) if k not in ("action_id", "block_id", "value", "url", "type", "style", "image_url")
                    else v) for k, v in value.items()}
    return value


def blocks_for_slack(blocks: list | None) -> list | None:
    return None if blocks is None else _walk(blocks, for_slack)


def is_channel(channel: str) -> bool:
    """A conversation many people read (C… or G…), not a direct message (D…) or a user (U…/W…)."""
    return channel[:1] in ("C", "G")


def private_details(session, child_id: int) -> list[str]:
    from sqlalchemy import select

    from store.models import Child, Episode
    from store.privacy import episode_free_text_columns

    child = session.get(Child, child_id)
    values: list[str] = []
    if child is None:
        return values
    if child.date_of_birth:
        d = child.date_of_birth
        values += [d.isoformat(), f"{d:%d/%m/%Y}", f"{d.day} {d:%b %Y}", f"{d:%d %b %Y}"]
    # user ids (reported_by, withdrawn_by, ...) are the bot's own <@U…> mentions; ri_by is a typed name
    columns = [c.key for c in episode_free_text_columns() if not c.key.endswith("_by") or c.key == "ri_by"]
    for e in session.scalars(select(Episode).where(Episode.child_id == child_id)):
        values += [getattr(e, name) or "" for name in columns]
    return sorted({v.strip() for v in values if v and len(v.strip()) >= 3}, key=len, reverse=True)


def scrub_child_details(session, child_id: int | None, text: str, blocks: list | None) -> tuple[str, list | None]:
    if child_id is None:
        return text, blocks
    details = private_details(session, child_id)
    if not details:
        return text, blocks
    hits = 0

    def scrub(s: str) -> str:
        nonlocal hits
        for value in details:
            for form in {value, neutralise(value), for_slack(value)}:
                if form and form in s:
                    hits += 1
                    s = s.replace(form, WITHHELD)
        return s

    text = scrub(text)
    blocks = None if blocks is None else _walk(blocks, scrub)
    if hits:
        log.warning("a channel post carried %d private detail(s) of a child; withheld", hits)
    return text, blocks


class NotPrivate(Exception):
    """The channel is public (or cannot be checked): details may not go there."""


def require_private(client, channel: str) -> None:
    """Details (agendas, board summaries) go only to a private channel: ask Slack (conversations.info)."""
    from slack_sdk.errors import SlackApiError

    if not is_channel(channel):
        return  # a direct message or a user
    try:
        info = client.conversations_info(channel=channel).get("channel") or {}
    except SlackApiError as exc:
        raise NotPrivate(f"I could not check that <#{channel}> is private ({exc.response.get('error')})") from None
    if not (info.get("is_private") or info.get("is_im") or info.get("is_mpim")):
        raise NotPrivate(f"<#{channel}> is a public channel")
