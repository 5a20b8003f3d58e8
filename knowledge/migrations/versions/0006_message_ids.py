"""A turn remembers the client's key for its message, so a message sent twice is stored once.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("turns", sa.Column("message_id", sa.String(64)))
    op.create_index("ux_turns_message", "turns", ["session_id", "message_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_turns_message", "turns")
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("message_id")
