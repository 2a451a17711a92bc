"""Flags on reviewed labels that are likely mistakes, awaiting a second reviewer's look.

A `ReviewFlagRecord` names one head of one review revision, what the cross-validated model says
instead and how sure it is. A flag is open until a different reviewer finishes a review of the
message; a flag whose label that second look kept is never raised again for the same label.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from serving.store.tables import AutoId, Base, utcnow


class ReviewFlagRecord(Base):
    """One head of one review revision flagged as a likely mistake by confident learning."""

    __tablename__ = "review_flags"
    __table_args__ = (UniqueConstraint("review_id", "head"), Index(None, "message_id", "resolved_at"))

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"))
    reviewer_id: Mapped[str] = mapped_column(String(64))
    head: Mapped[str] = mapped_column(String(16))
    reviewed_label: Mapped[str] = mapped_column(String)
    suggested_label: Mapped[str] = mapped_column(String)
    reviewed_probability: Mapped[float] = mapped_column(Float)
    suggested_probability: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    flagged_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(64))


def open_flags(session: Session, message_ids: Sequence[str] | None = None) -> list[ReviewFlagRecord]:
    """Unresolved flags, optionally of some messages, most confident disagreement first."""
    f = ReviewFlagRecord
    query = select(f).where(f.resolved_at.is_(None))
    if message_ids is not None:
        query = query.where(f.message_id.in_(list(message_ids)))
    return list(session.scalars(query.order_by(f.suggested_probability.desc(), f.id)))


def settled(session: Session, message_id: str, head: str, label: str) -> bool:
    """True when this message is flagged on `head` now, or a second look already kept `label` there."""
    f = ReviewFlagRecord
    found = session.scalar(
        select(f.id)
        .where(
            f.message_id == message_id,
            f.head == head,
            (f.resolved_at.is_(None)) | (f.reviewed_label == label),
        )
        .limit(1)
    )
    return found is not None


def resolve_flags(session: Session, message_id: str, reviewer_id: str, now: datetime | None = None) -> int:
    """Close the message's open flags raised on other reviewers' reviews; returns how many closed."""
    f = ReviewFlagRecord
    result = session.execute(
        update(f)
        .where(f.message_id == message_id, f.resolved_at.is_(None), f.reviewer_id != reviewer_id)
        .values(resolved_at=now or utcnow(), resolved_by=reviewer_id)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
