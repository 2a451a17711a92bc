"""Flagging likely reviewer mistakes in the store and sending them back to the queue for a second reviewer.

The labels checked are those retraining uses: per message, the latest current submitted review
(see `training.retrain.reviewed_items`). Vectors are the messages' stored embeddings under the
encoder most of them have; messages without one are not checked. `training.label_issues` finds
the likely mistakes; each becomes a `ReviewFlagRecord` and the message's queue item is reopened
for a different reviewer with the flagged priority (see `review_queue.flag_priority`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from serving.store.embeddings import load_embeddings
from serving.store.review_flags import ReviewFlagRecord, settled
from serving.store.review_queue import HEADS, QueueRules, reopen_for_second_look
from serving.store.review_tables import ReviewRecord
from serving.store.reviews import current_reviews
from serving.store.suggestions import stored_prediction
from serving.store.tables import EmbeddingRecord, utcnow
from training.label_issues import LabelIssue, LabelIssueParams, find_label_issues


@dataclass
class FlagRun:
    """What one flagging pass did."""

    reviewed: int = 0
    checked: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    without_embedding: int = 0
    encoder: str | None = None
    found: int = 0
    flagged: list[ReviewFlagRecord] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs and the CLI."""
        heads = ", ".join(f"{h} {n}" for h, n in self.checked.items()) or "none"
        return (
            f"{self.reviewed} reviewed messages ({self.without_embedding} without a {self.encoder or 'stored'} "
            f"embedding); labels checked per head: {heads}; {self.found} likely mistakes, "
            f"{len(self.flagged)} newly flagged"
        )


def effective_reviews(session: Session) -> list[ReviewRecord]:
    """Per message, the latest current submitted review that labels something: the label retraining uses."""
    latest: dict[str, ReviewRecord] = {}
    for review in current_reviews(session, status="submitted"):
        if any(getattr(review, h) for h in HEADS):
            latest[review.message_id] = review  # oldest first, so the last one seen wins
    return [latest[k] for k in sorted(latest)]


def _common_encoder(session: Session, message_ids: list[str]) -> str | None:
    e = EmbeddingRecord
    found = session.execute(
        select(e.encoder, func.count())
        .where(e.message_id.in_(message_ids))
        .group_by(e.encoder)
        .order_by(func.count().desc(), e.encoder)
        .limit(1)
    ).first()
    return None if found is None else str(found[0])


def _embedded(session: Session, message_ids: list[str], encoder: str) -> set[str]:
    e = EmbeddingRecord
    return set(session.scalars(select(e.message_id).where(e.encoder == encoder, e.message_id.in_(message_ids))))


def flag_label_issues(
    session: Session, rules: QueueRules | None = None, params: LabelIssueParams | None = None
) -> FlagRun:
    """Check every reviewed label, store new flags and reopen their queue items; commits.

    A (message, head) already flagged and still open, or whose label a second reviewer kept after an
    earlier flag, is not flagged again.
    """
    rules = rules or QueueRules()
    run = FlagRun()
    reviews = effective_reviews(session)
    run.reviewed = len(reviews)
    ids = [r.message_id for r in reviews]
    run.encoder = _common_encoder(session, ids) if ids else None
    if run.encoder is None:
        run.without_embedding = len(reviews)
        return run
    embedded = _embedded(session, ids, run.encoder)
    reviews = [r for r in reviews if r.message_id in embedded]
    run.without_embedding = run.reviewed - len(reviews)
    vectors = load_embeddings(session, [r.message_id for r in reviews], run.encoder)
    labels = {h: [getattr(r, h) for r in reviews] for h in HEADS}
    report = find_label_issues(vectors, labels, params)
    run.checked, run.skipped, run.found = report.checked, report.skipped, len(report.issues)
    now = utcnow()
    by_message: dict[str, list[LabelIssue]] = {}
    for issue in report.issues:
        review = reviews[issue.index]
        if settled(session, review.message_id, issue.head, issue.given):
            continue
        by_message.setdefault(review.message_id, []).append(issue)
        flag = ReviewFlagRecord(
            message_id=review.message_id,
            review_id=review.id,
            reviewer_id=review.reviewer_id,
            head=issue.head,
            reviewed_label=issue.given,
            suggested_label=issue.suggested,
            reviewed_probability=issue.given_probability,
            suggested_probability=issue.suggested_probability,
            reason=issue.describe(),
            flagged_at=now,
        )
        session.add(flag)
        run.flagged.append(flag)
    session.flush()
    reviewer_of = {r.message_id: r.reviewer_id for r in reviews}
    for message_id, issues in by_message.items():
        strongest = max(i.suggested_probability - i.given_probability for i in issues)
        stored = stored_prediction(session, message_id)
        reopen_for_second_look(session, message_id, reviewer_of[message_id], strongest, stored, rules, now)
    session.commit()
    return run


def flag_counts(session: Session) -> Counter[str]:
    """Open flags per head."""
    f = ReviewFlagRecord
    rows = session.execute(select(f.head, func.count()).where(f.resolved_at.is_(None)).group_by(f.head))
    return Counter({str(head): int(n) for head, n in rows})
