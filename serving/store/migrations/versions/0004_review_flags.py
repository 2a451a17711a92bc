"""Flags on likely reviewer mistakes, and the record of retrains from the store.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from the table modules, so this migration never changes after release.
AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "review_flags",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("review_id", AUTO_ID, nullable=False),
        sa.Column("reviewer_id", sa.String(length=64), nullable=False),
        sa.Column("head", sa.String(length=16), nullable=False),
        sa.Column("reviewed_label", sa.String(), nullable=False),
        sa.Column("suggested_label", sa.String(), nullable=False),
        sa.Column("reviewed_probability", sa.Float(), nullable=False),
        sa.Column("suggested_probability", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("flagged_at", TIMESTAMP, nullable=False),
        sa.Column("resolved_at", TIMESTAMP, nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_flags")),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_review_flags_message_id_messages"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["review_id"], ["reviews.id"], name=op.f("fk_review_flags_review_id_reviews"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint("review_id", "head", name=op.f("uq_review_flags_review_id_head")),
    )
    op.create_index(op.f("ix_review_flags_message_id_resolved_at"), "review_flags", ["message_id", "resolved_at"])

    op.create_table(
        "retrain_runs",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("started_by", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("submitted_reviews", sa.Integer(), nullable=False),
        sa.Column("submitted_total", sa.Integer(), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("version", sa.String(), nullable=True),
        sa.Column("promoted", sa.Boolean(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retrain_runs")),
        sa.CheckConstraint("started_by IN ('reviews', 'admin', 'cli')", name=op.f("ck_retrain_runs_started_by")),
        sa.CheckConstraint("status IN ('running', 'finished', 'failed')", name=op.f("ck_retrain_runs_status")),
    )
    op.create_index(op.f("ix_retrain_runs_started_at"), "retrain_runs", ["started_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_retrain_runs_started_at"), table_name="retrain_runs")
    op.drop_table("retrain_runs")
    op.drop_index(op.f("ix_review_flags_message_id_resolved_at"), table_name="review_flags")
    op.drop_table("review_flags")
