"""The first release's schema: FAQ, conversations, turns, feedback, reviews, staff.

FAQ entries and revisions, conversations, turns, feedback, the staff-chat relay, staff accounts
and sessions, review labels.

That release created these tables with ``metadata.create_all`` and recorded no revision; such a
database is recognised by its tables and stamped ``0001`` before it is upgraded. The tables are
written out here as they were, so later changes to ``knowledge/database.py`` never change what
this revision creates.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "faq_entries",
        sa.Column("faq_id", sa.String(64), primary_key=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("alternatives", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "faq_revisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("faq_id", sa.String(64), sa.ForeignKey("faq_entries.faq_id"), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("before", sa.Text),
        sa.Column("after", sa.Text),
    )
    op.create_index("ix_faq_revisions_entry", "faq_revisions", ["faq_id", "revision"], unique=True)
    op.create_table(
        "conversations",
        sa.Column("session_id", sa.String(128), primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
        sa.Column("handoff", sa.Boolean, nullable=False),
        sa.Column("handoff_at", sa.String(40)),
    )
    op.create_table(
        "turns",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(128), sa.ForeignKey("conversations.session_id"), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("intent", sa.String(100)),
        sa.Column("confidence", sa.Float),
        sa.Column("in_scope", sa.Boolean),
        sa.Column("faq_id", sa.String(64)),
        sa.Column("faq_score", sa.Float),
        sa.Column("choices", sa.Text),
        sa.Column("reply", sa.Text, nullable=False),
        sa.Column("bundle_version", sa.String(100)),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("review", sa.String(16)),
    )
    op.create_index("ix_turns_session", "turns", ["session_id", "id"])
    op.create_index("ix_turns_review", "turns", ["review", "id"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("turn_id", sa.Integer, sa.ForeignKey("turns.id"), nullable=False, unique=True),
        sa.Column("value", sa.Integer, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "staff_relays",
        sa.Column("staff_chat", sa.String(64), primary_key=True),
        sa.Column("staff_message_id", sa.Integer, primary_key=True),
        sa.Column("session_id", sa.String(128), sa.ForeignKey("conversations.session_id"), nullable=False),
        sa.Column("user_chat", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "staff",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("password_hash", sa.String(300), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), sa.ForeignKey("staff.name"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("expires_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "review_labels",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("turn_id", sa.Integer, sa.ForeignKey("turns.id"), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(100)),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_review_labels_created", "review_labels", ["created_at"])
    op.create_index("ix_review_labels_turn", "review_labels", ["turn_id"])


def downgrade() -> None:
    for table in ("review_labels", "staff_sessions", "staff", "staff_relays", "feedback", "turns",
                  "conversations", "faq_revisions", "faq_entries"):
        op.drop_table(table)
