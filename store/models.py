"""SQLAlchemy models of the record: children, episodes, the audit log and the outbox.

Times are stored as naive UTC and always come back timezone-aware (UTC); see `UTCDateTime`."""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Widths of platform ids: a user (Slack U…, an Entra object id) and a conversation (a Teams
# conversation id runs past 100 characters).
USER = 255
ADDRESS = 400


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out; stored naive UTC on every backend.

    The tzinfo is set with `datetime.combine(date, time, tz)`, the same value as `.replace(tzinfo=...)`
    but several times faster on Python 3.11 (whose `replace` parses keywords slowly): this runs
    for every time read or written, dozens on one answer (`/missing due`, `status`)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware datetime")
        value = value.astimezone(timezone.utc)
        return _combine(value.date(), value.time())  # naive: time() drops the tzinfo (keeps fold)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return _combine(value.date(), value.time(), timezone.utc)


_combine = datetime.combine


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), date: Date(), dict: JSON()}


class Child(Base):
    __tablename__ = "children"

    id: Mapped[int] = mapped_column(primary_key=True)
    child_ref: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(64), default="")
    date_of_birth: Mapped[date | None]
    gender: Mapped[str] = mapped_column(String(16), default="unknown")
    looked_after: Mapped[bool] = mapped_column(Boolean, default=False)
    placement_type: Mapped[str] = mapped_column(String(32), default="other")
    out_of_area: Mapped[bool] = mapped_column(Boolean, default=False)  # derived: placed_by or placed_in
    # Across council boundaries (ONS names, bot/protocol/authorities.py): placed here by another
    # council (theirs to report and interview), or our child placed in another council's area.
    placed_by: Mapped[str | None] = mapped_column(String(100))
    placed_in: Mapped[str | None] = mapped_column(String(100))
    worker_user_id: Mapped[str | None] = mapped_column(String(USER))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    episodes: Mapped[list["Episode"]] = relationship(back_populates="child", order_by="Episode.started_at")


class Episode(Base):
    __tablename__ = "episodes"
    __table_args__ = (
        # Withdrawn episodes (recorded in error) stay for the audit and count for nothing, so the
        # invariants below hold for live episodes only. At most one open episode per child and one
        # episode per start, enforced by the database itself; no two live episodes of a child
        # overlap (PostgreSQL: an exclusion constraint; SQLite: triggers; both in migration 0005).
        Index(
            "uq_episode_child_start",
            "child_id",
            "started_at",
            unique=True,
            sqlite_where=text("withdrawn_at IS NULL"),
            postgresql_where=text("withdrawn_at IS NULL"),
        ),
        Index(
            "uq_episode_one_open",
            "child_id",
            unique=True,
            sqlite_where=text("returned_at IS NULL AND withdrawn_at IS NULL"),
            postgresql_where=text("returned_at IS NULL AND withdrawn_at IS NULL"),
        ),
        Index("ix_episode_started", "started_at"),
        Index("ix_episode_returned", "returned_at"),
        # What the everyday reads and the clock's sweep look up, so that they cost what is owed or
        # open, not what is in history (migration 0010): returns still owed an interview, open
        # episodes, and episodes by last change (persistence candidates).
        Index("ix_episode_ri_owed", "returned_at",
              sqlite_where=text("returned_at IS NOT NULL AND ri_outcome IS NULL AND withdrawn_at IS NULL"),
              postgresql_where=text("returned_at IS NOT NULL AND ri_outcome IS NULL AND withdrawn_at IS NULL")),
        Index("ix_episode_open", "started_at",
              sqlite_where=text("returned_at IS NULL AND withdrawn_at IS NULL"),
              postgresql_where=text("returned_at IS NULL AND withdrawn_at IS NULL")),
        Index("ix_episode_updated", "updated_at",
              sqlite_where=text("withdrawn_at IS NULL"), postgresql_where=text("withdrawn_at IS NULL")),
        # Withdrawn episodes by start: the figures count them apart (migration 0012a).
        Index("ix_episode_withdrawn", "started_at",
              sqlite_where=text("withdrawn_at IS NOT NULL"), postgresql_where=text("withdrawn_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id"), index=True)
    episode_type: Mapped[str] = mapped_column(String(8), default="missing")
    started_at: Mapped[datetime]
    missing_from: Mapped[str] = mapped_column(String(200), default="")
    placement_type: Mapped[str] = mapped_column(String(32), default="other")
    # Whether the child was looked after when the episode began (SSDA903 and board figures count
    # episodes in care, whatever the child's status is now). None only for rows older than 0004.
    looked_after: Mapped[bool | None] = mapped_column(Boolean)
    police_ref: Mapped[str] = mapped_column(String(64), default="")
    risk_grade: Mapped[str | None] = mapped_column(String(20))
    reported_by: Mapped[str] = mapped_column(String(USER), default="")
    returned_at: Mapped[datetime | None]
    returned_by: Mapped[str] = mapped_column(String(USER), default="")
    found_location: Mapped[str] = mapped_column(String(200), default="")
    reasons: Mapped[str] = mapped_column(Text, default="")
    # Push/pull factors: codes from the protocol's `push_pull_factors` list.
    factors: Mapped[list | None] = mapped_column(JSON)
    cse_concern: Mapped[bool] = mapped_column(Boolean, default=False)
    cce_concern: Mapped[bool] = mapped_column(Boolean, default=False)
    concern_note: Mapped[str] = mapped_column(Text, default="")
    ri_outcome: Mapped[str | None] = mapped_column(String(16))
    ri_at: Mapped[datetime | None]
    ri_by: Mapped[str] = mapped_column(String(100), default="")
    ri_offered_at: Mapped[datetime | None]
    # Whether the interviewer was independent of the placement (a carer is not); None: not said.
    ri_independent: Mapped[bool | None] = mapped_column(Boolean)
    # The child's own account: private, never posted to a channel.
    ri_account: Mapped[str] = mapped_column(Text, default="")
    ri_followup: Mapped[str] = mapped_column(Text, default="")
    ri_recorded_by: Mapped[str] = mapped_column(String(USER), default="")
    ri_signed_off_at: Mapped[datetime | None]
    ri_signed_off_by: Mapped[str] = mapped_column(String(USER), default="")
    # returned_at - started_at and ri_at - returned_at in microseconds (NULL while either is
    # missing), kept by the database itself on every write (triggers, migration 0013): what the
    # board figures' durations and interview timescales compare in SQL. Never written by the bot;
    # a loaded object's copy is not refreshed by the triggers, so nothing reads it from the ORM
    # (audit snapshots leave out `derived` columns).
    away_us: Mapped[int | None] = mapped_column(BigInteger, info={"derived": True})
    ri_after_us: Mapped[int | None] = mapped_column(BigInteger, info={"derived": True})
    source: Mapped[str] = mapped_column(String(16), default="slack")
    # Recorded in error: kept for the audit, out of every count, status, alert and return.
    withdrawn_at: Mapped[datetime | None]
    withdrawn_by: Mapped[str] = mapped_column(String(USER), default="")
    withdrawn_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    child: Mapped[Child] = relationship(back_populates="episodes")


class HeldMeeting(Base):
    """A strategy meeting, intervention planning meeting (IPM) or strategy discussion, with the time
    it was actually held, and the alert that asked for it when there was one."""

    __tablename__ = "held_meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id"), index=True)
    episode_id: Mapped[int | None] = mapped_column(ForeignKey("episodes.id"))
    alert_id: Mapped[int | None] = mapped_column(Integer)  # alerts.id (store/alerts.py)
    kind: Mapped[str] = mapped_column(String(16))  # strategy | ipm | discussion
    held_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(USER))
    created_at: Mapped[datetime]


class AuditRecord(Base):
    """Append-only: the migration adds triggers that refuse UPDATE and DELETE."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(USER))
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    before: Mapped[dict | None]
    after: Mapped[dict | None]


class Outbox(Base):
    """Every message the bot sends: written in the transaction that causes it, then delivered.

    `key` is unique per (rule, subject, occurrence), so a message can be enqueued at most once.
    Delivery claims a row by a conditional UPDATE (status pending -> sending) before posting."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"), Index("ix_outbox_alert", "alert_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    # Which transport delivers it (scheduler/transports: slack, teams, teams_webhook, email) and
    # where to: a channel, conversation or user id on that platform ("email" for email rows).
    platform: Mapped[str] = mapped_column(String(16), server_default="slack")
    address: Mapped[str] = mapped_column(String(ADDRESS))
    # The plain text of the message when it was queued (the subject of an email): for logs of
    # delivery and the health page; what is sent is `message`, rendered by the transport.
    text: Mapped[str] = mapped_column(Text)
    # The neutral message (bot/messages.py Message.to_json()). An alert's row names its alert
    # instead (`alert_id`) and is rendered when delivered, as the alert is then.
    message: Mapped[dict] = mapped_column(JSON)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", name="fk_outbox_alert"))
    # Extra delivery data: {"email": ...} for an email, {"files": [...]} for a file upload,
    # {"update": outbox id} for an update of a posted message in place.
    payload: Mapped[dict | None] = mapped_column(JSON)
    thread_key: Mapped[str | None] = mapped_column(String(200), index=True)
    child_id: Mapped[int | None] = mapped_column(ForeignKey("children.id"))
    episode_id: Mapped[int | None] = mapped_column(ForeignKey("episodes.id"))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None]
    # Where it landed: the platform's conversation and message reference (Slack's channel and ts).
    sent_address: Mapped[str | None] = mapped_column(String(ADDRESS))
    sent_ref: Mapped[str | None] = mapped_column(String(USER))
    error: Mapped[str | None] = mapped_column(String(200))


# Episode columns that hold codes, not anything typed: the rest of its text columns are free text.
EPISODE_CODES = {"episode_type", "placement_type", "risk_grade", "ri_outcome", "source"}


def episode_free_text_columns() -> list:
    """The episode's text columns that hold what people typed (or ids of people): what retention
    erases and the channel rule looks for."""
    return [c for c in Episode.__table__.columns
            if isinstance(c.type, (String, Text)) and c.key not in EPISODE_CODES]
