"""How the review loop is going: activity, where the model is corrected, and whether reviewers agree.

Corrections and agreement use each reviewer's current review with status `submitted`, compared
per axis with the suggestion of the model version that reviewer was shown; an axis the reviewer
left empty is not counted. Inter-reviewer agreement uses messages with current submitted reviews
from two different reviewers (with more, the two whose current reviews are oldest), per axis where
both gave a label.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sklearn.metrics import cohen_kappa_score
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from serving.store.review_queue import HEADS
from serving.store.review_tables import REVIEW_STATUSES, QueueItemRecord, ReviewRecord
from serving.store.reviews import current_reviews
from serving.store.suggestions import stored_predictions
from serving.store.tables import utcnow


@dataclass
class Corrections:
    """How often reviewers changed the model's label."""

    reviewed: int = 0
    corrected: int = 0

    @property
    def rate(self) -> float | None:
        """Share of reviewed labels the reviewer changed; None before any review."""
        return self.corrected / self.reviewed if self.reviewed else None


@dataclass
class ReviewerAgreement:
    """Two reviewers' labels on the same messages, for one axis."""

    first: list[str] = field(default_factory=list)
    second: list[str] = field(default_factory=list)

    @property
    def items(self) -> int:
        """Messages both labelled."""
        return len(self.first)

    @property
    def agreement(self) -> float | None:
        """Share of those messages where they gave the same label."""
        return sum(a == b for a, b in zip(self.first, self.second, strict=True)) / self.items if self.items else None

    @property
    def kappa(self) -> float | None:
        """Cohen's kappa; None with fewer than two items or when chance agreement is certain (one label only)."""
        if self.items < 2 or len(set(self.first) | set(self.second)) < 2:
            return None
        value = float(cohen_kappa_score(self.first, self.second))
        return None if math.isnan(value) else round(value, 4)


@dataclass
class HeadStats:
    """One axis: corrections overall and per predicted label, and reviewers' agreement."""

    corrections: Corrections = field(default_factory=Corrections)
    by_predicted_label: dict[str, Corrections] = field(default_factory=lambda: defaultdict(Corrections))
    reviewers: ReviewerAgreement = field(default_factory=ReviewerAgreement)


@dataclass
class QueueCounts:
    """Queue items by state."""

    open: int = 0
    claimed: int = 0
    awaiting_second_review: int = 0
    completed: int = 0


@dataclass
class ReviewStats:
    """Everything `GET /v1/review/stats` reports."""

    per_day: dict[str, dict[str, int]]
    heads: dict[str, HeadStats]
    queue: QueueCounts


def review_stats(session: Session, now: datetime | None = None) -> ReviewStats:
    """Reviews written per day by status, corrections per axis and label, inter-reviewer agreement, queue counts."""
    return ReviewStats(per_day=_per_day(session), heads=_heads(session), queue=_queue(session, now or utcnow()))


def _per_day(session: Session) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for created, status in session.execute(select(ReviewRecord.created_at, ReviewRecord.status)):
        counts[created.date().isoformat()][status] += 1
    return {day: {s: counts[day][s] for s in REVIEW_STATUSES} for day in sorted(counts)}


def _heads(session: Session) -> dict[str, HeadStats]:
    stats = {head: HeadStats() for head in HEADS}
    submitted = current_reviews(session, status="submitted")
    suggestions = stored_predictions(session, [r.message_id for r in submitted])
    by_message: dict[str, list[ReviewRecord]] = defaultdict(list)
    for review in submitted:
        by_message[review.message_id].append(review)
        shown = suggestions.get((review.message_id, review.model_version or ""))
        for head in HEADS:
            label = getattr(review, head)
            if label is None or shown is None or head not in shown.prediction.heads:
                continue
            predicted = shown.prediction[head].label
            changed = int(label != predicted)
            for tally in (stats[head].corrections, stats[head].by_predicted_label[predicted]):
                tally.reviewed += 1
                tally.corrected += changed
    for reviews in by_message.values():
        first_two = _first_two_reviewers(reviews)
        if first_two is None:
            continue
        a, b = first_two
        for head in HEADS:
            la, lb = getattr(a, head), getattr(b, head)
            if la is not None and lb is not None:
                stats[head].reviewers.first.append(la)
                stats[head].reviewers.second.append(lb)
    return stats


def _first_two_reviewers(reviews: list[ReviewRecord]) -> tuple[ReviewRecord, ReviewRecord] | None:
    """The two oldest current reviews from different reviewers, or None with fewer than two reviewers."""
    by_reviewer = {r.reviewer_id: r for r in reviews}
    if len(by_reviewer) < 2:
        return None
    a, b = sorted(by_reviewer.values(), key=lambda r: (r.created_at, r.id))[:2]
    return a, b


def _queue(session: Session, now: datetime) -> QueueCounts:
    q = QueueItemRecord
    open_ = q.completed_at.is_(None)

    def count(*where: ColumnElement[bool]) -> int:
        return session.scalar(select(func.count()).select_from(q).where(*where)) or 0

    return QueueCounts(
        open=count(open_),
        claimed=count(open_, q.claimed_by.is_not(None), q.claim_expires_at > now),
        awaiting_second_review=count(open_, q.reviews_done > 0),
        completed=count(q.completed_at.is_not(None)),
    )
