"""teams_conversations: where the Teams bot may post (alert channels, personal chats) and who it has heard from

Revision ID: 0012t
Revises: 0012a
Create Date: 2026-11-28

Issue 11 (Teams). A proactive Teams message needs the conversation id, the service URL and the
tenant, all learnt from an activity: the edge stores them here (store/teams.py). Conversation
ids are long (text); Entra object ids fit 64. Follows 0012a (main's, after the neutral outbox 0011).
"""
from alembic import op
import sqlalchemy as sa

revision = "0012t"
down_revision = "0012a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teams_conversations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("conversation_id", sa.Text(), nullable=True),
        sa.Column("service_url", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("aad_id", sa.String(length=64), nullable=True),
        sa.Column("teams_user_id", sa.Text(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("alerts", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("conversation_id"),
        sa.UniqueConstraint("aad_id"),
    )


def downgrade() -> None:
    op.drop_table("teams_conversations")
