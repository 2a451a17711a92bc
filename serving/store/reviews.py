"""Humans' reviews: append-only revisions per (message, reviewer), kept apart from the model's suggestions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, Subquery, func, insert, select
from sqlalchemy.orm import Session, aliased

from serving.store.review_queue import count_review
from serving.store.review_tables import REVIEW_STATUSES, ReviewRecord
from serving.store.tables import MessageRecord, SuggestionRecord, utcnow

FINISHED = ("submitted", "discarded")


class UnknownMessage(LookupError):
    """A review names a message the store does not hold."""


@dataclass(frozen=True)
class Verdict:
    """What a reviewer says about one message: a label per axis (None: no verdict), a status, a note."""

    message_id: str
    status: str
    labels: Mapping[str, str | None] = field(default_factory=dict)
    note: str | None = None

    def __post_init__(self) -> None:
        if self.status not in REVIEW_STATUSES:
            raise ValueError(f"status must be one of {', '.join(REVIEW_STATUSES)}, not {self.status!r}")


def record_review(
    session: Session,
    verdict: Verdict,
    *,
    reviewer_id: str,
    reviewer_name: str | None = None,
    now: datetime | None = None,
) -> ReviewRecord:
    """Write a verdict as the reviewer's next revision for the message; flushes, never commits.

    Nothing is overwritten: the revision number is one past the reviewer's last for this message,
    computed in the INSERT itself. It records the model version whose suggestion was under review
    (the latest to classify the message). A submitted or discarded review counts towards the
    message's queue item. Raises UnknownMessage for a message that is not stored; IntegrityError if
    the same reviewer's concurrent review of the same message took the revision first (retry).
    """
    if session.get(MessageRecord, verdict.message_id) is None:
        raise UnknownMessage(verdict.message_id)
    now = now or utcnow()
    r = ReviewRecord
    mine = aliased(ReviewRecord)
    next_revision = (
        select(func.coalesce(func.max(mine.revision), 0) + 1)
        .where(mine.message_id == verdict.message_id, mine.reviewer_id == reviewer_id)
        .scalar_subquery()
    )
    labels = verdict.labels
    record = session.scalars(
        insert(r)
        .values(
            message_id=verdict.message_id,
            reviewer_id=reviewer_id,
            reviewer_name=reviewer_name,
            revision=next_revision,
            status=verdict.status,
            intent=labels.get("intent"),
            urgency=labels.get("urgency"),
            sentiment=labels.get("sentiment"),
            note=verdict.note,
            model_version=_reviewed_version(session, verdict.message_id),
            created_at=now,
        )
        .returning(r)
    ).one()
    if verdict.status in FINISHED:
        count_review(session, verdict.message_id, reviewer_id, now)
    return record


def _reviewed_version(session: Session, message_id: str) -> str | None:
    s = SuggestionRecord
    return session.scalar(
        select(s.model_version).where(s.message_id == message_id).order_by(s.created_at.desc(), s.id.desc()).limit(1)
    )


def latest_revisions() -> Subquery:
    """(message_id, reviewer_id, revision) of each reviewer's latest revision per message."""
    r = ReviewRecord
    return (
        select(r.message_id, r.reviewer_id, func.max(r.revision).label("revision"))
        .group_by(r.message_id, r.reviewer_id)
        .subquery()
    )


def current_reviews_query() -> Select[ReviewRecord]:
    """Each reviewer's current (latest) revision per message."""
    r = ReviewRecord
    latest = latest_revisions()
    return select(r).join(
        latest,
        (r.message_id == latest.c.message_id)
        & (r.reviewer_id == latest.c.reviewer_id)
        & (r.revision == latest.c.revision),
    )


def current_reviews(
    session: Session, *, message_ids: Sequence[str] | None = None, status: str | None = None
) -> list[ReviewRecord]:
    """Current reviews, optionally of some messages and with one status, oldest first."""
    query = current_reviews_query()
    if message_ids is not None:
        query = query.where(ReviewRecord.message_id.in_(list(message_ids)))
    if status is not None:
        query = query.where(ReviewRecord.status == status)
    return list(session.scalars(query.order_by(ReviewRecord.created_at, ReviewRecord.id)))


def review_history(session: Session, message_id: str) -> list[ReviewRecord]:
    """Every revision of every review of a message, in the order they were written."""
    query = select(ReviewRecord).where(ReviewRecord.message_id == message_id)
    return list(session.scalars(query.order_by(ReviewRecord.id)))
