"""The steps behind the review API: showing and claiming the queue, recording reviews, the statistics."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from serving.auth import Caller
from serving.errors import ApiError, problem, validation_problem
from serving.review_schemas import (
    ClaimIn,
    ClaimOut,
    Corrections,
    HeadStats,
    QueueCounts,
    QueueFilters,
    QueueItem,
    QueueOut,
    QueuePage,
    ReviewBatchOut,
    ReviewerAgreement,
    ReviewIn,
    ReviewItemResult,
    ReviewOut,
    ReviewStatsOut,
    Suggestion,
)
from serving.schemas import FieldError, ModelVersion, head_results
from serving.store.review_flags import open_flags, resolve_flags
from serving.store.review_queue import QueueFilter, claim, open_items, queue_state
from serving.store.review_stats import review_stats
from serving.store.review_tables import QueueItemRecord, ReviewRecord
from serving.store.reviews import FINISHED, Verdict, record_review
from serving.store.suggestions import stored_predictions
from serving.store.tables import MessageRecord, utcnow

# Only a reviewer racing their own review of the same message collides on a revision number.
_ATTEMPTS = 3


def _filter(filters: QueueFilters) -> QueueFilter:
    fields = filters.model_dump(include=set(QueueFilters.model_fields))
    if filters.channel is not None:
        fields["channel"] = str(filters.channel)
    return QueueFilter(**fields)


def _items(session: Session, records: Sequence[QueueItemRecord], now: datetime) -> list[QueueItem]:
    ids = [r.message_id for r in records]
    messages = {m.id: m for m in session.scalars(select(MessageRecord).where(MessageRecord.id.in_(ids)))}
    shown = stored_predictions(session, ids)
    flags: dict[str, list[str]] = {}
    for flag in open_flags(session, ids):
        flags.setdefault(flag.message_id, []).append(flag.reason)
    items = []
    for record in records:
        message = messages[record.message_id]
        stored = shown.get((record.message_id, record.model_version))
        suggestion = None
        if stored is not None:
            heads = head_results(stored.prediction)
            suggestion = Suggestion(
                intent=heads.get("intent"),
                urgency=heads.get("urgency"),
                sentiment=heads.get("sentiment"),
                model=ModelVersion(name=stored.model_name, version=stored.model_version),
            )
        held = record.claimed_by is not None and record.claim_expires_at is not None and record.claim_expires_at > now
        items.append(
            QueueItem(
                message_id=message.id,
                text=message.text,
                channel=message.channel,
                space=message.space,
                thread_id=message.thread_id,
                author=message.author,
                created_at=message.created_at,
                suggestion=suggestion,
                reason=record.reason,  # type: ignore[arg-type]
                priority=record.priority,
                needed_reviews=record.needed_reviews,
                reviews_done=record.reviews_done,
                claimed_by=record.claimed_by if held else None,
                claim_expires_at=record.claim_expires_at if held else None,
                flagged=record.message_id in flags,
                flag_reason="; ".join(flags[record.message_id]) if record.message_id in flags else None,
            )
        )
    return items


def queue_page(session: Session, page: QueuePage) -> QueueOut:
    """A page of open queue items in priority order, with the model's suggestion for each."""
    records, total = open_items(session, _filter(page), limit=page.limit, offset=page.offset)
    return QueueOut(items=_items(session, records, utcnow()), total=total)


def claim_for(session: Session, caller: Caller, body: ClaimIn, hold: timedelta) -> ClaimOut:
    """Claim up to `body.limit` items for the caller and commit."""
    now = utcnow()
    records = claim(session, caller.key_id, _filter(body), limit=body.limit, hold=hold, now=now)
    session.commit()
    return ClaimOut(
        items=_items(session, records, now),
        claimed_by=caller.key_id,
        claim_expires_at=now + hold if records else None,
    )


def _verdict(review: ReviewIn) -> Verdict:
    labels = {"intent": review.intent, "urgency": review.urgency, "sentiment": review.sentiment}
    return Verdict(review.message_id, review.status, labels, review.note)


def _public(session: Session, record: ReviewRecord) -> ReviewOut:
    item = session.get(QueueItemRecord, record.message_id, populate_existing=True)
    return ReviewOut(
        id=record.id,
        message_id=record.message_id,
        reviewer_id=record.reviewer_id,
        reviewer_name=record.reviewer_name,
        revision=record.revision,
        status=record.status,  # type: ignore[arg-type]
        intent=record.intent,
        urgency=record.urgency,
        sentiment=record.sentiment,
        note=record.note,
        model_version=record.model_version,
        created_at=record.created_at,
        queue=queue_state(item),  # type: ignore[arg-type]
    )


def _record_all(session: Session, reviews: Sequence[ReviewIn], caller: Caller) -> list[ReviewOut]:
    """Record reviews in one transaction, retrying when a concurrent revision of the same review won."""
    for attempt in range(_ATTEMPTS):
        try:
            records = [
                record_review(session, _verdict(r), reviewer_id=caller.key_id, reviewer_name=caller.name)
                for r in reviews
            ]
            for record in records:
                if record.status in FINISHED:
                    resolve_flags(session, record.message_id, record.reviewer_id, record.created_at)
            out = [_public(session, record) for record in records]
            session.commit()
            return out
        except IntegrityError:
            session.rollback()
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _unknown(session: Session, ids: Sequence[str]) -> set[str]:
    found = set(session.scalars(select(MessageRecord.id).where(MessageRecord.id.in_(set(ids)))))
    return set(ids) - found


def _not_found(message_id: str, field: str) -> tuple[str, list[FieldError]]:
    return f"no message is stored with id {message_id!r}", [FieldError(field=field, message="no such message")]


def submit_one(session: Session, review: ReviewIn, caller: Caller) -> ReviewOut:
    """Record one review; 404 when its message is not stored."""
    if _unknown(session, [review.message_id]):
        detail, errors = _not_found(review.message_id, "message_id")
        raise ApiError(404, detail, title="Unknown message", errors=errors)
    [out] = _record_all(session, [review], caller)
    return out


def submit_many(session: Session, raw_items: Sequence[Any], caller: Caller) -> ReviewBatchOut:
    """Validate each review alone, record the good ones in one transaction, report per item in order."""
    results: dict[int, ReviewItemResult] = {}
    valid: list[tuple[int, ReviewIn]] = []
    for i, raw in enumerate(raw_items):
        try:
            valid.append((i, ReviewIn.model_validate(raw)))
        except ValidationError as e:
            results[i] = ReviewItemResult(index=i, ok=False, error=validation_problem(e, prefix=("reviews", i)))
    unknown = _unknown(session, [r.message_id for _, r in valid])
    for i, review in valid:
        if review.message_id in unknown:
            detail, errors = _not_found(review.message_id, f"reviews.{i}.message_id")
            error = problem(404, detail, title="Unknown message", errors=errors)
            results[i] = ReviewItemResult(index=i, ok=False, error=error)
    todo = [(i, r) for i, r in valid if i not in results]
    for (i, _), out in zip(todo, _record_all(session, [r for _, r in todo], caller), strict=True):
        results[i] = ReviewItemResult(index=i, ok=True, review=out)
    ordered = [results[i] for i in sorted(results)]
    ok = sum(r.ok for r in ordered)
    return ReviewBatchOut(results=ordered, succeeded=ok, failed=len(ordered) - ok)


def stats(session: Session) -> ReviewStatsOut:
    """Review activity, corrections per axis and predicted label, agreement and queue counts."""
    found = review_stats(session)
    heads = {}
    for head, s in found.heads.items():
        rate = s.corrections.rate
        heads[head] = HeadStats(
            reviewed=s.corrections.reviewed,
            corrected=s.corrections.corrected,
            correction_rate=rate,
            model_agreement=None if rate is None else 1 - rate,
            by_predicted_label={
                label: Corrections(reviewed=c.reviewed, corrected=c.corrected, correction_rate=c.rate)
                for label, c in sorted(s.by_predicted_label.items())
            },
            inter_reviewer=ReviewerAgreement(
                items=s.reviewers.items, agreement=s.reviewers.agreement, kappa=s.reviewers.kappa
            ),
        )
    q = found.queue
    return ReviewStatsOut(
        reviews_per_day=found.per_day,
        heads=heads,
        queue=QueueCounts(
            open=q.open, claimed=q.claimed, awaiting_second_review=q.awaiting_second_review, completed=q.completed
        ),
    )
