"""Handoffs: conversations handed to a person, and what happened in them.

A handoff is waiting, with_staff or closed; its events are opened, claimed, staff messages, closed.

``handoffs.open_session`` holds the session id while the handoff is open and NULL once it is
closed; its unique constraint allows one open handoff per conversation.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(128), sa.ForeignKey("conversations.session_id"), nullable=False),
        sa.Column("open_session", sa.String(128), unique=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("opened_at", sa.String(40), nullable=False),
        sa.Column("claimed_by", sa.String(200)),
        sa.Column("claimed_at", sa.String(40)),
        sa.Column("first_reply_at", sa.String(40)),
        sa.Column("closed_at", sa.String(40)),
        sa.Column("closed_by", sa.String(200)),
    )
    op.create_index("ix_handoffs_state", "handoffs", ["state", "opened_at"])
    op.create_index("ix_handoffs_session", "handoffs", ["session_id", "id"])
    op.create_table(
        "handoff_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("handoff_id", sa.Integer, sa.ForeignKey("handoffs.id"), nullable=False),
        sa.Column("session_id", sa.String(128), sa.ForeignKey("conversations.session_id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_handoff_events_session", "handoff_events", ["session_id", "id"])


def downgrade() -> None:
    op.drop_table("handoff_events")
    op.drop_table("handoffs")
