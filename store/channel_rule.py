"""The channel rule: what may reach a channel, enforced in one place (`store.outbox.enqueue`).

A channel post names a child by case reference and label only, says what happened and what to
do. It never carries a location, a concern, a reason, a date of birth or a police reference:
those go to the person who asked (ephemeral replies, direct messages, forms) or to a private
meeting channel (see `require_private`).

Nothing anyone typed can become a mention, a broadcast or a link: messages are neutral
(bot/messages.py), people are the bot's own `Person` spans, and every platform's renderer escapes
all plain text (Slack: handlers/slack/render.py). Posts to a channel (not a direct message) about a child pass through
`scrub_child_details`: any of that child's private details (places, police reference, reasons,
date of birth) found in the text is replaced, and the slip is logged (without the value) so it
can be fixed where it was rendered."""
from __future__ import annotations

import logging
from functools import lru_cache

from sqlalchemy import select

from bot.messages import Message
from store.models import Child, Episode, episode_free_text_columns

log = logging.getLogger(__name__)

WITHHELD = "(withheld: see /missing status)"


@lru_cache(maxsize=1)
def _free_text_query():
    """The child's live episodes' free-text columns: on every channel post about a child, so a Core
    statement on the table, built once and run on the session's connection (no ORM statement
    machinery, no Episode objects); withdrawn episodes left out here explicitly."""
    from sqlalchemy import bindparam

    table = Episode.__table__
    # user ids (reported_by, withdrawn_by, ...) are people, not text; ri_by is a typed name
    columns = [c for c in episode_free_text_columns() if not c.key.endswith("_by") or c.key == "ri_by"]
    return select(*columns).where(table.c.child_id == bindparam("child_id"), table.c.withdrawn_at.is_(None))


def private_details(session, child_id: int) -> list[str]:
    child = session.get(Child, child_id)
    values: list[str] = []
    if child is None:
        return values
    if child.date_of_birth:
        d = child.date_of_birth
        values += [d.isoformat(), f"{d:%d/%m/%Y}", f"{d.day} {d:%b %Y}", f"{d:%d %b %Y}"]
    session.flush()  # what this transaction changed about the episodes, as an ORM read would see it
    for row in session.connection().execute(_free_text_query(), {"child_id": child_id}):
        values += [v or "" for v in row]
    return sorted({v.strip() for v in values if v and len(v.strip()) >= 3}, key=len, reverse=True)


def scrub_child_details(session, child_id: int | None, msg: Message) -> Message:
    """The message with any of the child's private details replaced (and the slip logged, without the value)."""
    if child_id is None:
        return msg
    details = private_details(session, child_id)
    if not details:
        return msg
    hits = 0

    def scrub(s: str) -> str:
        nonlocal hits
        for value in details:
            if value in s:
                hits += 1
                s = s.replace(value, WITHHELD)
        return s

    msg = msg.map_strings(scrub)
    if hits:
        log.warning("a channel post carried %d private detail(s) of a child; withheld", hits)
    return msg
