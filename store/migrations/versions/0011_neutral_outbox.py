"""The outbox keeps platform-neutral messages; user and conversation ids wide enough for any platform

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28

outbox: `channel` -> `platform` + `address`; `text`/`blocks` -> `message` (bot/messages.py JSON;
`text` stays as the plain preview and email subject); `alert_id` (alerts are rendered when
delivered, from the alert as it is then); `slack_channel`/`slack_ts` -> `sent_address`/`sent_ref`.
Existing rows move: Slack mentions in their text become people and places, Slack's escapes are
undone, an alert row gets its alert's id (its Block Kit is dropped: it renders again at send).

User and conversation id columns widen (a Teams conversation id is over 100 characters, an Entra
object id 36). On SQLite lengths are not enforced, so only PostgreSQL is altered (a batch rebuild
of `episodes` or `audit_log` on SQLite would drop their triggers).
"""
import base64
import json
import mimetypes
import re

from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

USER = 255
ADDRESS = 400
WIDE = [  # (table, column, old length)
    ("children", "worker_user_id", 32), ("episodes", "reported_by", 32), ("episodes", "returned_by", 64),
    ("episodes", "ri_recorded_by", 64), ("episodes", "ri_signed_off_by", 64), ("episodes", "withdrawn_by", 64),
    ("held_meetings", "recorded_by", 64), ("audit_log", "actor", 32), ("alerts", "acknowledged_by", 32),
    ("meeting_series", "created_by", 32), ("meeting_series", "cancelled_by", 32),
    ("meeting_occurrences", "cancelled_by", 32), ("meeting_actions", "owner_user_id", 32),
    ("meeting_actions", "created_by", 32), ("meeting_actions", "done_by", 32),
]
MENTION = re.compile(r"<([@#])([A-Z0-9]+)(?:\|[^>]*)?>")


def neutral(text: str):
    """Stored Slack text -> the neutral JSON text (a string, or spans with people and places)."""
    spans: list = []
    pos = 0
    for m in MENTION.finditer(text or ""):
        spans.append(text[pos:m.start()])
        spans.append({"person" if m.group(1) == "@" else "place": m.group(2)})
        pos = m.end()
    spans.append((text or "")[pos:])
    spans = [s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") if isinstance(s, str) else s
             for s in spans if s != ""]
    if all(isinstance(s, str) for s in spans):
        return "".join(spans)
    return spans


def upgrade() -> None:
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    with op.batch_alter_table("outbox") as b:
        b.add_column(sa.Column("platform", sa.String(16), nullable=False, server_default="slack"))
        b.add_column(sa.Column("message", sa.JSON(), nullable=True))
        b.add_column(sa.Column("alert_id", sa.Integer(), nullable=True))
        b.alter_column("channel", new_column_name="address", type_=sa.String(ADDRESS), existing_nullable=False)
        b.alter_column("slack_channel", new_column_name="sent_address", type_=sa.String(ADDRESS))
        b.alter_column("slack_ts", new_column_name="sent_ref", type_=sa.String(USER))
        b.create_foreign_key("fk_outbox_alert", "alerts", ["alert_id"], ["id"])
    outbox = sa.table("outbox", sa.column("id", sa.Integer), sa.column("key", sa.String), sa.column("address", sa.String),
                      sa.column("text", sa.Text), sa.column("payload", sa.JSON), sa.column("blocks", sa.JSON),
                      sa.column("platform", sa.String), sa.column("message", sa.JSON), sa.column("alert_id", sa.Integer))
    alerts = {k: i for i, k in bind.execute(sa.text("SELECT id, key FROM alerts"))}
    for row in bind.execute(sa.select(outbox.c.id, outbox.c.key, outbox.c.address, outbox.c.text, outbox.c.payload)).all():
        payload = row.payload if isinstance(row.payload, dict) or row.payload is None else json.loads(row.payload)
        platform = "email" if row.address == "email" or (payload or {}).get("email") else "slack"
        alert_key = row.key.split(":", 1)[1] if row.key.startswith(("alert:", "alert-dm:")) else None
        message = {"text": neutral(row.text), "visibility": "channel"}
        files = (payload or {}).get("files") or ([payload["file"]] if (payload or {}).get("file") else [])
        if files:  # files move into the neutral message as attachments (see store/outbox.py)
            message["attachments"] = [{
                "name": f["filename"], "title": f.get("title") or f["filename"],
                "media_type": mimetypes.guess_type(f["filename"])[0] or "application/octet-stream",
                "content": f["content"] if f.get("encoding") == "base64"
                else base64.b64encode(f["content"].encode("utf-8")).decode("ascii")} for f in files]
            payload = {k: v for k, v in payload.items() if k not in ("file", "files")} or None
        values = {"platform": platform, "message": message, "alert_id": alerts.get(alert_key), "payload": payload}
        bind.execute(sa.update(outbox).where(outbox.c.id == row.id).values(**values))
    with op.batch_alter_table("outbox") as b:
        b.drop_column("blocks")
        b.alter_column("message", existing_type=sa.JSON(), nullable=False)
    op.create_index("ix_outbox_alert", "outbox", ["alert_id"])
    # An interview recorded without "by" stored the recorder as a Slack mention; ri_recorded_by says who.
    bind.execute(sa.text("UPDATE episodes SET ri_by = '' WHERE ri_by LIKE '<@%'"))
    if pg:
        for table, column, _ in WIDE:
            op.alter_column(table, column, type_=sa.String(USER))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table, column, old in WIDE:
            op.alter_column(table, column, type_=sa.String(old))
    op.drop_index("ix_outbox_alert", table_name="outbox")
    with op.batch_alter_table("outbox") as b:
        b.add_column(sa.Column("blocks", sa.JSON(), nullable=True))
        b.drop_constraint("fk_outbox_alert", type_="foreignkey")
        b.drop_column("alert_id")
        b.drop_column("message")
        b.drop_column("platform")
        b.alter_column("address", new_column_name="channel", type_=sa.String(32), existing_nullable=False)
        b.alter_column("sent_address", new_column_name="slack_channel", type_=sa.String(32))
        b.alter_column("sent_ref", new_column_name="slack_ts", type_=sa.String(32))
