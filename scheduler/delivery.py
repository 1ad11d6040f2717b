"""Delivery of outbox rows to Slack, exactly once.

A row is claimed by a conditional UPDATE (pending -> sending, only if still pending), posted
through the WebClient, then marked sent with Slack's ts. Two processes running this at once
never post the same row: only one UPDATE matches."""
from __future__ import annotations

import logging
from datetime import datetime

from slack_sdk.errors import SlackApiError
from sqlalchemy import update

from bot.context import Services
from store.models import Outbox
from store.outbox import pending

log = logging.getLogger(__name__)


def claim(services: Services, row_id: int, now: datetime) -> bool:
    with services.sessions.begin() as s:
        res = s.execute(
            update(Outbox).where(Outbox.id == row_id, Outbox.status == "pending")
            .values(status="sending", claimed_at=now, claimed_by=services.worker_id, attempts=Outbox.attempts + 1)
        )
        return res.rowcount == 1


def deliver_due(services: Services, now: datetime | None = None) -> int:
    """Deliver every pending row that is due; returns how many were sent."""
    now = now or services.now()
    with services.sessions() as s:
        due = [(r.id, r.channel, r.text, r.blocks) for r in pending(s, now)]
    sent = 0
    for row_id, channel, text, blocks in due:
        if not claim(services, row_id, now):
            continue
        try:
            resp = services.client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "error"))[:200]
            log.warning("outbox %s: Slack refused: %s", row_id, error)
            with services.sessions.begin() as s:
                s.execute(update(Outbox).where(Outbox.id == row_id).values(status="failed", error=error))
            continue
        with services.sessions.begin() as s:
            s.execute(update(Outbox).where(Outbox.id == row_id).values(
                status="sent", sent_at=services.now(), slack_channel=resp.get("channel"), slack_ts=resp.get("ts")))
        sent += 1
    return sent
