"""Teams conversations the bot may post into later, and the Teams users it has heard from.

Teams gives a bot no way to post into a conversation it has not been told about: a proactive
message needs the conversation id, the region's service URL and the tenant, all learnt from an
activity Teams sent. So the edge (handlers/teams/app.py) remembers them here:

- kind "channel": a channel conversation; `alerts` is set by an admin's `alerts here` there.
- kind "personal": a user's one-to-one chat with the bot (`aad_id` = their Entra object id,
  `teams_user_id` = their 29: id for creating the chat when it does not exist yet, `name` = the
  display name Teams sent, used to show people by name in cards). A user who has only written in
  a channel has a row without `conversation_id` until the bot opens the chat.

The transport (scheduler/transports/teams.py) reads the service URL and tenant for an outbox
address here: a conversation id, or an Entra object id for a personal message."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import Boolean, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.models import Base

ENTRA_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")  # bot.settings.entra_user_id


class TeamsConversation(Base):
    __tablename__ = "teams_conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # channel | personal | groupChat
    conversation_id: Mapped[str | None] = mapped_column(Text, unique=True)
    service_url: Mapped[str] = mapped_column(Text)
    tenant_id: Mapped[str] = mapped_column(String(64))
    aad_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    teams_user_id: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(String(200))
    alerts: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


def is_entra_id(value: str) -> bool:
    return bool(ENTRA_ID.match(value or ""))


def channel_of(conversation_id: str) -> str:
    """A channel's conversation id without the thread part (`;messageid=...` on a reply)."""
    return conversation_id.split(";", 1)[0]


def _set(row: TeamsConversation, now: datetime, **values) -> None:
    """Set what changed; `updated_at` moves only then (or once a day), so a message from someone
    already known writes nothing."""
    changed = False
    for name, value in values.items():
        if value is not None and getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    if changed or row.updated_at is None or now - row.updated_at > timedelta(days=1):
        row.updated_at = now


def remember_user(s: Session, *, aad_id: str, teams_user_id: str, name: str | None, service_url: str,
                  tenant_id: str, now: datetime, conversation_id: str | None = None) -> TeamsConversation:
    row = s.scalar(select(TeamsConversation).where(TeamsConversation.aad_id == aad_id))
    if row is None:
        row = TeamsConversation(kind="personal", aad_id=aad_id, created_at=now, alerts=False)
        s.add(row)
    _set(row, now, teams_user_id=teams_user_id, service_url=service_url, tenant_id=tenant_id,
         name=name[:200] if name else None, conversation_id=conversation_id)
    s.flush()
    return row


def remember_channel(s: Session, *, conversation_id: str, kind: str, service_url: str, tenant_id: str,
                     now: datetime, alerts: bool | None = None) -> TeamsConversation:
    conversation_id = channel_of(conversation_id)
    row = s.scalar(select(TeamsConversation).where(TeamsConversation.conversation_id == conversation_id))
    if row is None:
        row = TeamsConversation(kind=kind, conversation_id=conversation_id, created_at=now, alerts=False)
        s.add(row)
    _set(row, now, service_url=service_url, tenant_id=tenant_id, alerts=alerts)
    s.flush()
    return row


def find(s: Session, address: str) -> TeamsConversation | None:
    """The conversation an outbox address names: a conversation id, or a user's Entra object id."""
    if is_entra_id(address):
        where = TeamsConversation.aad_id == address
    else:
        where = TeamsConversation.conversation_id == channel_of(address)
    return s.scalar(select(TeamsConversation).where(where))


def any_service_url(s: Session) -> tuple[str, str] | None:
    """(service URL, tenant) of the most recently heard-from conversation: where to open a chat with
    a user the bot has never heard from."""
    row = s.execute(select(TeamsConversation.service_url, TeamsConversation.tenant_id)
                    .order_by(TeamsConversation.updated_at.desc()).limit(1)).first()
    return (row[0], row[1]) if row else None


# Read with every alert stored: Core, built once, on the session's connection.
_conversations = TeamsConversation.__table__.c
ALERT_CONVERSATIONS = (select(_conversations.conversation_id).where(_conversations.alerts.is_(True))
                       .order_by(_conversations.id))


def alert_conversations(s: Session) -> list[str]:
    """The channels an admin chose for alerts (`alerts here`)."""
    s.flush()
    return list(s.connection().execute(ALERT_CONVERSATIONS).scalars())


def names(s: Session) -> dict[str, str]:
    """Entra object id -> display name, for showing people in cards."""
    return {aad: name for aad, name in s.execute(
        select(TeamsConversation.aad_id, TeamsConversation.name)
        .where(TeamsConversation.aad_id.is_not(None), TeamsConversation.name.is_not(None)))}


def enqueue_alert(s: Session, alert, thread_key: str | None, message, common: dict) -> None:
    """Queue an alert for every Teams channel chosen with `alerts here`, in the transaction that
    stored it, beside the Slack channel's row: the row names the alert and is rendered when
    delivered (scheduler/delivery.py), as the Slack row is."""
    import hashlib

    from bot.platforms import TEAMS
    from store.outbox import enqueue

    for conversation in alert_conversations(s):
        where = hashlib.sha256(conversation.encode()).hexdigest()[:12]
        enqueue(s, key=f"alert-teams:{where}:{alert.key}", channel=conversation, platform=TEAMS,
                thread_key=thread_key, message=message, **common)
