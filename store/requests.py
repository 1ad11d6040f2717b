"""Signed requests already accepted: each (timestamp, signature) runs once, across processes.

Slack signs `v0:<timestamp>:<body>`, and a signature is only accepted within five minutes of
its timestamp (bot/edge.py), so a row older than that can be forgotten: `forget_old` drops
them as new ones arrive. Slack's own retries of an event carry a new signature; they are
recognised by the event's id (`event:<id>`)."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String, delete
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.db import insert_new
from store.models import Base

KEEP = timedelta(minutes=10)  # twice the signature window


class SeenRequest(Base):
    __tablename__ = "seen_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    seen_at: Mapped[datetime] = mapped_column(index=True)


def first_time(session: Session, key: str, now: datetime) -> bool:
    """Record `key`; True when no process has recorded it before."""
    return session.execute(insert_new(session, SeenRequest, keys=["key"], key=key[:100], seen_at=now)).first() is not None


def forget_old(session: Session, now: datetime) -> None:
    session.execute(delete(SeenRequest).where(SeenRequest.seen_at < now - KEEP))
