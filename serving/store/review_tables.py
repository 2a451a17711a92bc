"""The review loop's tables: the review queue and the humans' reviews.

A `ReviewRecord` is one revision of one reviewer's verdict on one message; reviews are never
updated, a change is a new revision. A `QueueItemRecord` is a message waiting for review, with
what is needed to order, filter and claim it without reading the suggestions.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from serving.store.tables import AutoId, Base, utcnow

REVIEW_STATUSES = ("draft", "submitted", "discarded")
QUEUE_REASONS = ("critical", "abstained", "low_margin", "sample")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class ReviewRecord(Base):
    """One revision of a reviewer's verdict on a message: labels per axis (null: no verdict), status, note.

    The highest revision per (message, reviewer) is that reviewer's current review.
    """

    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("message_id", "reviewer_id", "revision"),
        CheckConstraint(_one_of("status", REVIEW_STATUSES), name="status"),
        Index(None, "created_at"),
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    reviewer_id: Mapped[str] = mapped_column(String(64))
    reviewer_name: Mapped[str | None] = mapped_column(String)
    revision: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    intent: Mapped[str | None] = mapped_column(String)
    urgency: Mapped[str | None] = mapped_column(String)
    sentiment: Mapped[str | None] = mapped_column(String)
    note: Mapped[str | None] = mapped_column(Text)
    model_version: Mapped[str | None] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class QueueItemRecord(Base):
    """A stored message waiting for review, why it was queued, and who holds it.

    `intent`, `urgency` and `sentiment` are the model's labels and `*_uncertain` whether that head
    abstained or had a low margin, copied here so the queue filters without joins. An item is done
    when `completed_at` is set: after `needed_reviews` submitted (or discarded) reviews from
    different reviewers.
    """

    __tablename__ = "review_queue"
    __table_args__ = (
        CheckConstraint(_one_of("reason", QUEUE_REASONS), name="reason"),
        CheckConstraint("needed_reviews IN (1, 2)", name="needed_reviews"),
        Index(None, "completed_at", "priority"),
    )

    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(16))
    priority: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String)
    intent: Mapped[str] = mapped_column(String)
    urgency: Mapped[str] = mapped_column(String)
    sentiment: Mapped[str] = mapped_column(String)
    intent_uncertain: Mapped[bool]
    urgency_uncertain: Mapped[bool]
    sentiment_uncertain: Mapped[bool]
    channel: Mapped[str] = mapped_column(String(32))
    space: Mapped[str | None] = mapped_column(String)
    message_created_at: Mapped[datetime]
    enqueued_at: Mapped[datetime] = mapped_column(default=utcnow)
    needed_reviews: Mapped[int] = mapped_column(Integer, default=1)
    reviews_done: Mapped[int] = mapped_column(Integer, default=0)
    first_reviewer_id: Mapped[str | None] = mapped_column(String(64))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claim_expires_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
