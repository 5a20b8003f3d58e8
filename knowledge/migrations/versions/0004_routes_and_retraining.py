"""Routes staff set (overlaying the shipped routing file) and the retraining runs the console lists.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routes",
        sa.Column("intent", sa.String(100), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(100)),
        sa.Column("sure", sa.Float),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "retrain_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("finished_at", sa.String(40)),
        sa.Column("started_by", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("old_bundle", sa.String(100)),
        sa.Column("new_bundle", sa.String(100)),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("report", sa.Text),
    )
    op.create_index("ix_retrain_runs_started", "retrain_runs", ["started_at"])


def downgrade() -> None:
    op.drop_table("retrain_runs")
    op.drop_table("routes")
