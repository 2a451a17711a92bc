"""Predictions and stored messages for the review tests, built by hand so every queue rule is exercised."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from data.schema import Channel, Message
from models.prediction import AbstainReason, HeadPrediction, Prediction
from serving.store.messages import ClassifiedMessage, save_classified_many
from serving.store.review_queue import QueueRules, enqueue_for_review

NO_SAMPLE = QueueRules(sample_rate=0.0, low_margin=0.15, second_share=0.0)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def head(probabilities: dict[str, float], reason: AbstainReason | None = None) -> HeadPrediction:
    """A head answering its most probable label; abstaining when `reason` is given."""
    label = max(probabilities, key=lambda k: probabilities[k])
    return HeadPrediction(label, probabilities[label], probabilities, reason is not None, reason)


def sure(label: str, p: float = 0.95, runner_up: str = "other") -> HeadPrediction:
    """A confident head: `label` at `p`, the rest on one runner-up (margin 2p - 1)."""
    return head({label: p, runner_up: round(1 - p, 6)})


def prediction(
    intent: HeadPrediction | None = None,
    urgency: HeadPrediction | None = None,
    sentiment: HeadPrediction | None = None,
) -> Prediction:
    """Three heads, confident unless given."""
    return Prediction(
        {
            "intent": intent or sure("feedback"),
            "urgency": urgency or sure("normal", runner_up="low"),
            "sentiment": sentiment or sure("neutral", runner_up="negative"),
        }
    )


def store(
    session: Session,
    predictions: list[Prediction],
    rules: QueueRules = NO_SAMPLE,
    *,
    ids: list[str] | None = None,
    channel: Channel = Channel.TWITTER,
    space: str | None = "Acme",
    created_at: datetime = T0,
    version: str = "1",
) -> list[str]:
    """Store one message per prediction (text `m<i>`) and queue those the rules pick; commits; returns ids."""
    items = []
    for i, p in enumerate(predictions):
        extra = {"id": ids[i]} if ids else {}
        message = Message(text=f"m{i} text", channel=channel, space=space, created_at=created_at, **extra)
        items.append(ClassifiedMessage(message, p, "tidings-classifier", version))
    save_classified_many(session, items)
    enqueue_for_review(session, items, rules)
    session.commit()
    return [item.message.id for item in items]
