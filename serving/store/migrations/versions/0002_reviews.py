"""The review queue and reviews.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from the table modules, so this migration never changes after release.
AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("reviewer_id", sa.String(length=64), nullable=False),
        sa.Column("reviewer_name", sa.String(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("intent", sa.String(), nullable=True),
        sa.Column("urgency", sa.String(), nullable=True),
        sa.Column("sentiment", sa.String(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("model_version", sa.String(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_reviews_message_id_messages"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint(
            "message_id", "reviewer_id", "revision", name=op.f("uq_reviews_message_id_reviewer_id_revision")
        ),
        sa.CheckConstraint("status IN ('draft', 'submitted', 'discarded')", name=op.f("ck_reviews_status")),
    )
    op.create_index(op.f("ix_reviews_created_at"), "reviews", ["created_at"])

    op.create_table(
        "review_queue",
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Float(), nullable=False),
        sa.Column("model_version", sa.String(), nullable=False),
        sa.Column("intent", sa.String(), nullable=False),
        sa.Column("urgency", sa.String(), nullable=False),
        sa.Column("sentiment", sa.String(), nullable=False),
        sa.Column("intent_uncertain", sa.Boolean(), nullable=False),
        sa.Column("urgency_uncertain", sa.Boolean(), nullable=False),
        sa.Column("sentiment_uncertain", sa.Boolean(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("space", sa.String(), nullable=True),
        sa.Column("message_created_at", TIMESTAMP, nullable=False),
        sa.Column("enqueued_at", TIMESTAMP, nullable=False),
        sa.Column("needed_reviews", sa.Integer(), nullable=False),
        sa.Column("reviews_done", sa.Integer(), nullable=False),
        sa.Column("first_reviewer_id", sa.String(length=64), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claim_expires_at", TIMESTAMP, nullable=True),
        sa.Column("completed_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_review_queue")),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_review_queue_message_id_messages"), ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "reason IN ('critical', 'abstained', 'low_margin', 'sample')", name=op.f("ck_review_queue_reason")
        ),
        sa.CheckConstraint("needed_reviews IN (1, 2)", name=op.f("ck_review_queue_needed_reviews")),
    )
    op.create_index(op.f("ix_review_queue_completed_at_priority"), "review_queue", ["completed_at", "priority"])


def downgrade() -> None:
    op.drop_index(op.f("ix_review_queue_completed_at_priority"), table_name="review_queue")
    op.drop_table("review_queue")
    op.drop_index(op.f("ix_reviews_created_at"), table_name="reviews")
    op.drop_table("reviews")
