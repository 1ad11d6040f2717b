"""The outbox: every channel post, reminder and alert is a row here before it is sent.

`enqueue` is called inside the transaction of the change that causes the message; the
unique `key` makes a second enqueue of the same (rule, subject, occurrence) a no-op.
Delivery (see `deliver_due`) claims rows a batch at a time with a conditional UPDATE, so two
bot processes never post the same row."""
from __future__ import annotations

import base64
import mimetypes
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.messages import Attachment, Message, Rich, text_of
from bot.messages import message as message_of
from bot.platforms import is_channel, platform_for
from store.channel_rule import scrub_child_details
from store.db import add_new
from store.models import Outbox

# The `error` of a row sent after an unknown outcome without first looking for an earlier copy
# (the workspace refused the history scopes): `/missing health` counts them.
UNCHECKED = "sent without checking for an earlier copy"


def enqueue(
    session: Session,
    *,
    key: str,
    kind: str,
    channel: str,
    now: datetime,
    message: Message | Rich | str | None = None,
    text: str | None = None,
    platform: str | None = None,
    alert_id: int | None = None,
    thread_key: str | None = None,
    child_id: int | None = None,
    episode_id: int | None = None,
    due_at: datetime | None = None,
    payload: dict | None = None,
) -> bool:
    """Add a message for `channel` (an address on `platform`) unless one with `key` exists. True when added.

    `message` is neutral (bot/messages.py); `text` alone makes a plain one. An alert's rows pass
    `alert_id` and are rendered when delivered. A post to a channel about a child passes the
    channel rule here (store/channel_rule.py): none of that child's private details."""
    if not channel:
        return False
    platform = platform or platform_for(channel)
    msg = message_of(message if message is not None else (text or ""))
    payload, msg = _files_as_attachments(payload, msg)
    if is_channel(platform, channel) and child_id is not None:
        msg = scrub_child_details(session, child_id, msg)
    preview = text if text is not None else (msg.summary() if msg.headline else text_of(msg.text, icons=False))
    # rowcount is -1 for INSERT ... ON CONFLICT on psycopg; RETURNING says whether a row went in.
    added = add_new(session, Outbox, dict(
        key=key[:200], kind=kind, platform=platform, address=channel, text=preview, message=msg.to_json(),
        alert_id=alert_id, payload=payload, thread_key=thread_key, child_id=child_id, episode_id=episode_id,
        status="pending", attempts=0, created_at=now, next_attempt_at=due_at or now,
    )) is not None
    if added:
        session.info[ENQUEUED] = True
    return added


def _files_as_attachments(payload: dict | None, msg: Message) -> tuple[dict | None, Message]:
    """`payload={"file": {...}}` / `{"files": [...]}` (filename, content, title, encoding) become the
    message's attachments: the outbox keeps files in the neutral message."""
    if not payload or not (payload.get("file") or payload.get("files")):
        return payload, msg
    files = payload.get("files") or [payload["file"]]
    msg = replace(msg, attachments=list(msg.attachments))  # the caller's message stays as it was
    for f in files:
        content = f["content"]
        data = base64.b64decode(content) if f.get("encoding") == "base64" else (
            content.encode("utf-8") if isinstance(content, str) else content)
        media = mimetypes.guess_type(f["filename"])[0] or "application/octet-stream"
        msg.attachments.append(Attachment(f["filename"], media, data, f.get("title") or f["filename"]))
    rest = {k: v for k, v in payload.items() if k not in ("file", "files")}
    return rest or None, msg


# Set in `session.info` when a transaction queued a message: entry points wake the deliverer only then.
ENQUEUED = "enqueued"


def queued(session: Session) -> bool:
    """Whether this session's transaction added an outbox row (so there is something to deliver)."""
    return bool(session.info.get(ENQUEUED))


def pending(session: Session, now: datetime, limit: int = 50) -> list[Outbox]:
    return list(session.scalars(
        select(Outbox).where(Outbox.status == "pending", Outbox.next_attempt_at <= now)
        .order_by(Outbox.next_attempt_at, Outbox.id).limit(limit)
    ))
