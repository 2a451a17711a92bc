"""What the review page shows: the reviewer's next queue item with its thread, the label keys, progress today."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from data.taxonomy import Taxonomy
from serving.store.review_queue import QueueFilter, claim
from serving.store.review_tables import QueueItemRecord, ReviewRecord
from serving.store.suggestions import stored_prediction
from serving.store.tables import MessageRecord, utcnow

# One row of keys per head, in taxonomy order; `a`, `s`, `u` and Enter are the page's own commands.
KEY_ROWS = ("1234567890", "qwertyiop", "zxcvbnm", "dfghjkl")
THREAD_LIMIT = 30


def label_keys(taxonomy: Taxonomy) -> dict[str, dict[str, str]]:
    """`{head: {label: key}}`: one keystroke per label, a keyboard row per head.

    Raises ValueError when the taxonomy has more heads or labels than there are keys.
    """
    if len(taxonomy.heads) > len(KEY_ROWS):
        raise ValueError(f"the review page has key rows for {len(KEY_ROWS)} heads, not {len(taxonomy.heads)}")
    keys: dict[str, dict[str, str]] = {}
    for row, head in zip(KEY_ROWS, taxonomy.heads.values(), strict=False):
        if len(head.labels) > len(row):
            raise ValueError(f"head {head.name!r} has {len(head.labels)} labels; the review page has {len(row)} keys")
        keys[head.name] = dict(zip(head.labels, row, strict=False))
    return keys


@dataclass(frozen=True)
class NotSkipped(QueueFilter):
    """Any open item except those the reviewer skipped."""

    skipped: frozenset[str] = frozenset()

    def conditions(self) -> list[ColumnElement[bool]]:
        """The base conditions, less the skipped items."""
        found = super().conditions()
        if self.skipped:
            found.append(QueueItemRecord.message_id.not_in(self.skipped))
        return found


@dataclass(frozen=True)
class LabelChoice:
    """One label a reviewer can pick on one head."""

    label: str
    key: str
    definition: str
    probability: float | None


@dataclass(frozen=True)
class HeadView:
    """One head of the item: the model's suggestion, its confidence, and every label to choose from."""

    name: str
    suggested: str | None
    probability: float | None
    abstained: bool
    abstain_reason: str | None
    choices: list[LabelChoice]


@dataclass(frozen=True)
class DeskItem:
    """A claimed queue item as the page shows it."""

    message: MessageRecord
    queue: QueueItemRecord
    model_name: str | None
    model_version: str | None
    heads: list[HeadView]
    thread: list[MessageRecord]


def thread_of(session: Session, message: MessageRecord, limit: int = THREAD_LIMIT) -> list[MessageRecord]:
    """The stored messages of the same thread and channel, oldest first, the message itself included."""
    if message.thread_id is None:
        return []
    query = (
        select(MessageRecord)
        .where(MessageRecord.thread_id == message.thread_id, MessageRecord.channel == message.channel)
        .order_by(MessageRecord.created_at, MessageRecord.id)
        .limit(limit)
    )
    found = list(session.scalars(query))
    return found if any(m.id != message.id for m in found) else []


def _heads(session: Session, item: QueueItemRecord, taxonomy: Taxonomy) -> tuple[list[HeadView], str | None]:
    stored = stored_prediction(session, item.message_id, item.model_version)
    keys = label_keys(taxonomy)
    views = []
    for head in taxonomy.heads.values():
        answer = stored.prediction.heads.get(head.name) if stored else None
        probabilities = answer.probabilities if answer else {}
        views.append(
            HeadView(
                name=head.name,
                suggested=answer.label if answer else None,
                probability=float(answer.probability) if answer else None,
                abstained=bool(answer.abstained) if answer else False,
                abstain_reason=str(answer.reason) if answer and answer.reason else None,
                choices=[
                    LabelChoice(
                        label, keys[head.name][label], head.definitions.get(label, ""), probabilities.get(label)
                    )
                    for label in head.labels
                ],
            )
        )
    return views, stored.model_name if stored else None


def next_item(
    session: Session,
    reviewer_id: str,
    taxonomy: Taxonomy,
    *,
    skipped: Collection[str] = (),
    hold: timedelta,
    now: datetime | None = None,
) -> DeskItem | None:
    """Claim the reviewer's next item (keeping one they already hold), or None when nothing is left; flushes."""
    records = claim(session, reviewer_id, NotSkipped(skipped=frozenset(skipped)), limit=1, hold=hold, now=now)
    if not records:
        return None
    item = records[0]
    message = session.get(MessageRecord, item.message_id)
    if message is None:  # deleted between the claim and this read
        return None
    heads, model_name = _heads(session, item, taxonomy)
    return DeskItem(message, item, model_name, item.model_version, heads, thread_of(session, message))


def submitted_today(session: Session, reviewer_id: str, now: datetime | None = None) -> int:
    """Messages the reviewer has submitted a review of since midnight UTC (revisions count once)."""
    midnight = (now or utcnow()).replace(hour=0, minute=0, second=0, microsecond=0)
    r = ReviewRecord
    query = select(func.count(func.distinct(r.message_id))).where(
        r.reviewer_id == reviewer_id, r.status == "submitted", r.created_at >= midnight
    )
    return session.scalar(query) or 0
