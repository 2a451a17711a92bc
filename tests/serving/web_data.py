"""Classified messages for the web page tests: a small inbox whose queue order and suggestions are known."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from data.schema import Channel, Message
from data.taxonomy import default_taxonomy
from models.prediction import AbstainReason, HeadPrediction, Prediction
from serving.store.messages import ClassifiedMessage, save_classified_many
from serving.store.review_queue import QueueRules, enqueue_for_review, priority

# Queue what the rules pick, never a second review: the order below is the queue's.
RULES = QueueRules(sample_rate=0.0, low_margin=0.15, second_share=0.0)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def answer(head: str, label: str, p: float, runner_up: str, q: float, reason: AbstainReason | None = None):
    """A head answering `label` at `p`, `runner_up` at `q`, the rest of the head's labels sharing what is left."""
    others = [x for x in default_taxonomy()[head].labels if x not in (label, runner_up)]
    rest = round((1 - p - q) / len(others), 6) if others else 0.0
    probabilities = {label: p, runner_up: q, **dict.fromkeys(others, rest)}
    return HeadPrediction(label, p, probabilities, reason is not None, reason)


@dataclass(frozen=True)
class Seeded:
    """A stored message and the model's labels for it."""

    id: str
    text: str
    intent: str
    urgency: str
    sentiment: str


def _item(message: Message, intent: HeadPrediction, urgency: HeadPrediction, sentiment: HeadPrediction):
    prediction = Prediction({"intent": intent, "urgency": urgency, "sentiment": sentiment})
    return ClassifiedMessage(message, prediction, "tidings-classifier", "1")


def seed_inbox(session: Session) -> list[Seeded]:
    """Store four messages and queue three of them (predicted critical, abstained, low margin); commits.

    The critical one has an earlier message of its thread stored beside it. Returns the queued
    messages in queue order (critical, low margin, abstained).
    """
    earlier = Message(
        id="gate-0",
        text="@AcmeAir flight AC123 delayed again, anyone know what is going on?",
        channel=Channel.TWITTER,
        space="Acme Air",
        author="jo_travels",
        thread_id="thread-ac123",
        created_at=T0,
    )
    stuck = Message(
        id="gate-1",
        text="@AcmeAir still stuck at the gate for 3 hours with no updates. I need to get home tonight!",
        channel=Channel.TWITTER,
        space="Acme Air",
        author="jo_travels",
        thread_id="thread-ac123",
        created_at=T0 + timedelta(hours=3),
    )
    vague = Message(
        id="sarcasm-1",
        text="great, just great. thanks a lot @acme, third outage this week",
        channel=Channel.CHAT,
        space="Acme Community",
        created_at=T0,
    )
    shipping = Message(
        id="ship-1",
        text="do you ship to canada or is it US only? my order page is confusing",
        channel=Channel.EMAIL,
        space="Acme Shop",
        author="sam@example.org",
        created_at=T0 + timedelta(minutes=5),
    )
    quiet = _item(
        earlier,
        answer("intent", "support_request", 0.9, "feedback", 0.05),
        answer("urgency", "normal", 0.9, "high", 0.06),
        answer("sentiment", "negative", 0.9, "neutral", 0.08),
    )
    queued = [
        _item(
            stuck,
            answer("intent", "support_request", 0.86, "feedback", 0.08),
            answer("urgency", "critical", 0.55, "high", 0.35),
            answer("sentiment", "negative", 0.92, "neutral", 0.06),
        ),
        _item(
            vague,
            answer("intent", "advocacy", 0.41, "feedback", 0.2, AbstainReason.LOW_CONFIDENCE),
            answer("urgency", "low", 0.8, "normal", 0.15),
            answer("sentiment", "positive", 0.7, "negative", 0.2),
        ),
        _item(
            shipping,
            answer("intent", "sales_question", 0.48, "support_request", 0.42),
            answer("urgency", "normal", 0.75, "low", 0.2),
            answer("sentiment", "neutral", 0.8, "negative", 0.15),
        ),
    ]
    save_classified_many(session, [quiet, *queued], redact_text=False)
    enqueue_for_review(session, queued, RULES)
    session.commit()
    seeded = []
    for item in sorted(queued, key=lambda i: -priority(str(RULES.reason(i.message.id, i.prediction)), i.prediction)):
        heads = item.prediction.heads
        seeded.append(
            Seeded(
                item.message.id,
                item.message.text,
                heads["intent"].label,
                heads["urgency"].label,
                heads["sentiment"].label,
            )
        )
    return seeded
