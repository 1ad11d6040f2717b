"""The outbox: every channel post, reminder and alert is a row here before it is sent.

`enqueue` is called inside the transaction of the change that causes the message; the
unique `key` makes a second enqueue of the same (rule, subject, occurrence) a no-op.
Delivery (see `deliver_due`) claims rows one at a time with a conditional UPDATE, so two
bot processes never post the same row."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.db import insert_new
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
    text: str,
    now: datetime,
    blocks: list | None = None,
    thread_key: str | None = None,
    child_id: int | None = None,
    episode_id: int | None = None,
    due_at: datetime | None = None,
    payload: dict | None = None,
) -> bool:
    """Add a message to the outbox unless one with `key` exists. True when added.

    Every Slack message passes the channel rule here (bot/safety.py): no broadcast mention or
    link from anyone's text, and a channel post about a child carries none of its details."""
    if not channel:
        return False
    if channel != "email":
        from bot.safety import blocks_for_slack, for_slack, is_channel, scrub_child_details

        text, blocks = for_slack(text), blocks_for_slack(blocks)
        if payload and isinstance(payload.get("file"), dict) and payload["file"].get("title"):
            payload = {**payload, "file": {**payload["file"], "title": for_slack(payload["file"]["title"])}}
        if is_channel(channel):
            text, blocks = scrub_child_details(session, child_id, text, blocks)
    stmt = insert_new(
        session, Outbox, keys=["key"],
        key=key[:200], kind=kind, channel=channel, text=text, blocks=blocks, payload=payload, thread_key=thread_key,
        child_id=child_id, episode_id=episode_id, status="pending", attempts=0,
        created_at=now, next_attempt_at=due_at or now,
    )
    # rowcount is -1 for INSERT ... ON CONFLICT on psycopg; RETURNING says whether a row went in.
    added = session.execute(stmt).first() is not None
    if added:
        session.info[ENQUEUED] = True
    return added


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
