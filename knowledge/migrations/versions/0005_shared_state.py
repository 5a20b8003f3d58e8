"""State every replica shares: dialogue memory per conversation, rate limits, claims.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dialogue_states",
        sa.Column("session_id", sa.String(128), primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("turn_id", sa.Integer),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_dialogue_states_updated", "dialogue_states", ["updated_at"])
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("allowed", sa.Boolean, nullable=False),
    )
    op.create_index("ix_rate_limits_at", "rate_limits", ["at"])
    op.create_table(
        "claims",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_claims_expires", "claims", ["expires_at"])


def downgrade() -> None:
    op.drop_table("claims")
    op.drop_table("rate_limits")
    op.drop_table("dialogue_states")
