"""The review queue: which stored messages a human should look at, in what order, and who holds them.

A message is queued when it is stored, for the first reason that applies:

- `critical`: the model predicts urgency `critical`;
- `abstained`: any head abstained;
- `low_margin`: any head's top-two probability margin is below `QueueRules.low_margin`;
- `sample`: a confident prediction picked as quality control, `QueueRules.sample_rate` of them,
  by a hash of the message id (the same message is always in or out).

Priority, highest first: `tier + urgency_weight × uncertainty`, where

- `tier` is 10 for `critical`, 5 for `abstained` and `low_margin`, 0 for `sample`;
- `urgency_weight` is the expected urgency weight under the predicted urgency probabilities,
  with low 1, normal 2, high 3, critical 4 (so 1 to 4);
- `uncertainty` is 1 − the smallest top-two margin over the heads (0 to 1).

`urgency_weight × uncertainty` is at most 4, so the tiers never mix: predicted-critical first, then
abstentions and low margins, then the sample; within a tier, urgent and uncertain first.

A reviewed label that confident learning flags as a likely mistake (`serving.review_flagging`) sends
its message back to the queue for a different reviewer with `flag_priority`: `9 + 0.99 × strength`,
where strength is the held-out model's probability for its own label minus that for the reviewed
one (0 to 1). That band, 9 to 9.99, sits above every abstention and low margin and below
predicted-critical messages, which keep their own higher priority.

`QueueRules.second_share` of queued messages (again by hash) need two reviews from different
reviewers, for inter-reviewer agreement. A claim holds items for one reviewer until it expires.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, or_, select, update
from sqlalchemy.orm import Session

from data.settings import Settings
from models.prediction import HeadPrediction, Prediction
from serving.store.messages import ClassifiedMessage
from serving.store.review_tables import QueueItemRecord
from serving.store.suggestions import StoredClassification
from serving.store.tables import MessageRecord, utcnow

URGENCY_WEIGHTS = {"low": 1.0, "normal": 2.0, "high": 3.0, "critical": 4.0}
TIERS = {"critical": 10.0, "abstained": 5.0, "low_margin": 5.0, "sample": 0.0}
FLAG_TIER = 9.0
HEADS = ("intent", "urgency", "sentiment")
_CLAIM_ROUNDS = 5


@dataclass(frozen=True)
class QueueRules:
    """When a stored message enters the queue, and how many reviews it needs."""

    sample_rate: float = 0.02
    low_margin: float = 0.15
    second_share: float = 0.1

    @classmethod
    def from_settings(cls, settings: Settings) -> QueueRules:
        """The rules configured by `TIDINGS_REVIEW_*`."""
        return cls(settings.review_sample_rate, settings.review_low_margin, settings.review_second_share)

    def uncertain(self, head: HeadPrediction) -> bool:
        """True when a head abstained or its margin is low."""
        return head.abstained or margin(head) < self.low_margin

    def reason(self, message_id: str, prediction: Prediction) -> str | None:
        """Why this message should be reviewed, or None when it need not be."""
        heads = prediction.heads
        if "urgency" in heads and heads["urgency"].label == "critical":
            return "critical"
        if any(h.abstained for h in heads.values()):
            return "abstained"
        if any(margin(h) < self.low_margin for h in heads.values()):
            return "low_margin"
        if hash_fraction(message_id, "sample") < self.sample_rate:
            return "sample"
        return None

    def needed_reviews(self, message_id: str) -> int:
        """2 for the share routed to a second reviewer, else 1."""
        return 2 if hash_fraction(message_id, "second") < self.second_share else 1


def margin(head: HeadPrediction) -> float:
    """Top-two probability margin of one head (1 when it has a single label)."""
    top = sorted(head.probabilities.values(), reverse=True)
    return top[0] - top[1] if len(top) > 1 else 1.0


def hash_fraction(message_id: str, salt: str) -> float:
    """A fraction in [0, 1) fixed by the message id, so sampling is the same on every run."""
    digest = hashlib.sha256(f"{salt}:{message_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def priority(reason: str, prediction: Prediction) -> float:
    """`tier + urgency_weight × uncertainty` (see the module docstring)."""
    urgency = prediction.heads.get("urgency")
    weight = sum(URGENCY_WEIGHTS.get(label, 1.0) * p for label, p in urgency.probabilities.items()) if urgency else 1.0
    uncertainty = 1.0 - min((margin(h) for h in prediction.heads.values()), default=1.0)
    return round(TIERS[reason] + weight * uncertainty, 6)


def flag_priority(strength: float) -> float:
    """Priority of a flagged review's second look: `FLAG_TIER + 0.99 × strength` (strength clipped to 0-1)."""
    return round(FLAG_TIER + 0.99 * min(max(strength, 0.0), 1.0), 6)


def reopen_for_second_look(
    session: Session,
    message_id: str,
    reviewer_id: str,
    strength: float,
    stored: StoredClassification | None,
    rules: QueueRules,
    now: datetime | None = None,
) -> QueueItemRecord | None:
    """Put a message whose review was flagged back in the queue for a reviewer other than `reviewer_id`; flushes.

    A finished item reopens as awaiting a second review (`needed_reviews` 2, `reviews_done` 1, the flagged
    reviewer as first reviewer, so they cannot take it); an open one keeps its state. Either way its
    priority rises to at least `flag_priority(strength)`. A message never queued is queued from its
    stored prediction, with the reason the rules give it or `sample` (it was reviewed outside the queue,
    a spot check). Returns None when such a message has no stored prediction to queue it with.
    """
    now = now or utcnow()
    wanted = flag_priority(strength)
    item = session.get(QueueItemRecord, message_id)
    if item is None:
        if stored is None:
            return None
        message = session.get(MessageRecord, message_id)
        if message is None:
            return None
        reason = rules.reason(message_id, stored.prediction) or "sample"
        item = _queue_record(
            message_id,
            message.channel,
            message.space,
            message.created_at,
            stored.prediction,
            rules,
            reason=reason,
            priority=max(priority(reason, stored.prediction), wanted),
            model_version=stored.model_version,
            enqueued_at=now,
            needed_reviews=2,
            reviews_done=1,
            first_reviewer_id=reviewer_id,
        )
        session.add(item)
        session.flush()
        return item
    item.priority = max(item.priority, wanted)
    if item.completed_at is not None:
        item.completed_at = None
        item.needed_reviews, item.reviews_done = 2, 1
        item.first_reviewer_id = reviewer_id
        item.claimed_by = item.claim_expires_at = None
    session.flush()
    return item


def _queue_record(
    message_id: str,
    channel: str,
    space: str | None,
    created_at: datetime | None,
    prediction: Prediction,
    rules: QueueRules,
    **state: Any,
) -> QueueItemRecord:
    """A queue item carrying the prediction's labels and which heads were uncertain, plus `state`."""
    heads = prediction.heads
    return QueueItemRecord(
        message_id=message_id,
        intent=heads["intent"].label,
        urgency=heads["urgency"].label,
        sentiment=heads["sentiment"].label,
        intent_uncertain=rules.uncertain(heads["intent"]),
        urgency_uncertain=rules.uncertain(heads["urgency"]),
        sentiment_uncertain=rules.uncertain(heads["sentiment"]),
        channel=channel,
        space=space,
        message_created_at=created_at,
        **state,
    )


def enqueue_for_review(
    session: Session, items: Sequence[ClassifiedMessage], rules: QueueRules
) -> list[QueueItemRecord]:
    """Queue the newly stored messages that need a human, in the caller's transaction; flushes."""
    now = utcnow()
    queued = []
    for item in items:
        message, prediction = item.message, item.prediction
        reason = rules.reason(message.id, prediction)
        if reason is None:
            continue
        queued.append(
            _queue_record(
                message.id,
                str(message.channel),
                message.space,
                message.created_at,
                prediction,
                rules,
                reason=reason,
                priority=priority(reason, prediction),
                model_version=item.model_version,
                enqueued_at=now,
                needed_reviews=rules.needed_reviews(message.id),
                reviews_done=0,
            )
        )
    session.add_all(queued)
    session.flush()
    return queued


@dataclass(frozen=True)
class QueueFilter:
    """Which open items to show or claim; every field narrows, None means any."""

    head: str | None = None
    intent: str | None = None
    urgency: str | None = None
    sentiment: str | None = None
    channel: str | None = None
    space: str | None = None
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        """SQL conditions on `QueueItemRecord`; `head` keeps items uncertain on that head."""
        q = QueueItemRecord
        found: list[ColumnElement[bool]] = [q.completed_at.is_(None)]
        if self.head is not None:
            found.append(getattr(q, f"{self.head}_uncertain").is_(True))
        for name in (*HEADS, "channel", "space", "reason"):
            value = getattr(self, name)
            if value is not None:
                found.append(getattr(q, name) == value)
        if self.since is not None:
            found.append(q.message_created_at >= self.since)
        if self.until is not None:
            found.append(q.message_created_at < self.until)
        return found


def _in_priority_order(query: Select[Any]) -> Select[Any]:
    q = QueueItemRecord
    return query.order_by(q.priority.desc(), q.enqueued_at, q.message_id)


def open_items(
    session: Session, where: QueueFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[QueueItemRecord], int]:
    """Open items matching `where` in priority order, a page of them, and how many match in all."""
    conditions = where.conditions()
    total = session.scalar(select(func.count()).select_from(QueueItemRecord).where(*conditions)) or 0
    page = session.scalars(_in_priority_order(select(QueueItemRecord).where(*conditions)).limit(limit).offset(offset))
    return list(page), total


def _claimable_by(reviewer_id: str, now: datetime) -> ColumnElement[bool]:
    """Unclaimed, claim expired or already the reviewer's, and not already reviewed by them."""
    q = QueueItemRecord
    return and_(
        q.completed_at.is_(None),
        or_(q.claimed_by.is_(None), q.claim_expires_at <= now, q.claimed_by == reviewer_id),
        or_(q.first_reviewer_id.is_(None), q.first_reviewer_id != reviewer_id),
    )


def claim(
    session: Session, reviewer_id: str, where: QueueFilter, *, limit: int, hold: timedelta, now: datetime | None = None
) -> list[QueueItemRecord]:
    """Claim up to `limit` items for a reviewer, highest priority first, until `now + hold`; flushes.

    Items the reviewer already holds are included (and their claim renewed). Two reviewers never
    hold the same item: each item is taken with a conditional UPDATE that re-checks it is free, and
    on PostgreSQL candidates are read with FOR UPDATE SKIP LOCKED so concurrent claims pass each other.
    """
    now = now or utcnow()
    expires = now + hold
    q = QueueItemRecord
    taken: list[str] = []
    tried: set[str] = set()
    postgres = session.get_bind().dialect.name == "postgresql"
    for _ in range(_CLAIM_ROUNDS):
        wanted = limit - len(taken)
        query = select(q.message_id).where(*where.conditions(), _claimable_by(reviewer_id, now))
        if tried:
            query = query.where(q.message_id.not_in(tried))
        query = _in_priority_order(query).limit(wanted)
        if postgres:
            query = query.with_for_update(skip_locked=True)
        candidates = list(session.scalars(query))
        if not candidates:
            break
        tried.update(candidates)
        won = session.scalars(
            update(q)
            .where(q.message_id.in_(candidates), _claimable_by(reviewer_id, now))
            .values(claimed_by=reviewer_id, claim_expires_at=expires)
            .returning(q.message_id)
            .execution_options(synchronize_session=False)
        )
        taken.extend(won)
        if len(taken) >= limit:
            break
    if not taken:
        return []
    records = session.scalars(
        _in_priority_order(select(q).where(q.message_id.in_(taken))).execution_options(populate_existing=True)
    )
    return list(records)


def release_claim(session: Session, message_id: str, reviewer_id: str) -> None:
    """Give up the reviewer's claim on an item so someone else may take it (a skip); flushes."""
    q = QueueItemRecord
    session.execute(
        update(q)
        .where(q.message_id == message_id, q.claimed_by == reviewer_id)
        .values(claimed_by=None, claim_expires_at=None)
        .execution_options(synchronize_session=False)
    )


def count_review(session: Session, message_id: str, reviewer_id: str, now: datetime | None = None) -> None:
    """Count a reviewer's finished (submitted or discarded) review towards the item, if it is queued.

    One statement, so concurrent reviews cannot both count as the first: a reviewer counts once per
    item, the item is done after `needed_reviews` reviewers, and the reviewer's own claim is released
    (someone else's claim stands: they may be the second reviewer).
    """
    q = QueueItemRecord
    done = q.reviews_done + 1
    finished = done >= q.needed_reviews
    session.execute(
        update(q)
        .where(
            q.message_id == message_id,
            q.completed_at.is_(None),
            or_(q.first_reviewer_id.is_(None), q.first_reviewer_id != reviewer_id),
        )
        .values(
            reviews_done=done,
            first_reviewer_id=func.coalesce(q.first_reviewer_id, reviewer_id),
            completed_at=case((finished, literal(now or utcnow(), q.completed_at.type)), else_=None),
            claimed_by=case((or_(finished, q.claimed_by == reviewer_id), None), else_=q.claimed_by),
            claim_expires_at=case((or_(finished, q.claimed_by == reviewer_id), None), else_=q.claim_expires_at),
        )
        .execution_options(synchronize_session=False)
    )


def queue_state(item: QueueItemRecord | None) -> str:
    """`not_queued`, `open`, `awaiting_second_review` or `completed`."""
    if item is None:
        return "not_queued"
    if item.completed_at is not None:
        return "completed"
    return "awaiting_second_review" if item.reviews_done > 0 else "open"
