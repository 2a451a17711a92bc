"""Likely reviewer mistakes are flagged, shown in the queue and sent to a second reviewer, who settles them."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from sqlalchemy import select

from data.schema import Channel, Message
from serving.auth import Caller
from serving.review_flagging import flag_counts, flag_label_issues
from serving.review_schemas import QueuePage, ReviewIn
from serving.reviewing import queue_page, submit_one
from serving.store.messages import ClassifiedMessage, save_classified_many
from serving.store.review_flags import ReviewFlagRecord, open_flags
from serving.store.review_queue import FLAG_TIER, QueueFilter, QueueRules, claim, enqueue_for_review, flag_priority
from serving.store.review_tables import QueueItemRecord
from serving.store.reviews import Verdict, record_review
from serving.store.roles import Role
from tests.serving.conftest import MigratedStore
from tests.serving.review_data import T0, prediction

EVERYTHING = QueueRules(sample_rate=1.0, low_margin=0.0, second_share=0.0)
INTENTS = ("spam", "feedback", "support_request")
PLANTED = {"m003": "feedback", "m040": "support_request", "m075": "spam"}
ENCODER = "test-clusters.v1"
ALICE = Caller("alice", Role.REVIEW, "Alice")
BOB = Caller("bob", Role.REVIEW, "Bob")


def message_ids() -> list[str]:
    return [f"m{i:03d}" for i in range(90)]


def true_intent(i: int) -> str:
    return INTENTS[i // 30]


def reviewed_store(store_: MigratedStore, planted: dict[str, str] = PLANTED) -> None:
    """90 messages in three embedding clusters, all queued and reviewed by Alice, three with a wrong intent."""
    rng = np.random.default_rng(0)
    centres = np.eye(3, 16) * 4.0
    items = []
    for i, mid in enumerate(message_ids()):
        vector = (centres[i // 30] + rng.normal(size=16)).astype(np.float32)
        message = Message(id=mid, text=f"message {mid}", channel=Channel.TWITTER, created_at=T0)
        items.append(ClassifiedMessage(message, prediction(), "tidings-classifier", "1", vector, ENCODER))
    with store_.sessions() as session:
        save_classified_many(session, items)
        enqueue_for_review(session, items, EVERYTHING)
        for i, mid in enumerate(message_ids()):
            labels = {"intent": planted.get(mid, true_intent(i)), "urgency": "normal"}
            record_review(session, Verdict(mid, "submitted", labels), reviewer_id=ALICE.key_id, now=T0)
        session.commit()


def test_planted_mistakes_are_flagged_and_reopened_for_a_second_reviewer(migrated_store: MigratedStore):
    reviewed_store(migrated_store)
    with migrated_store.sessions() as session:
        assert queue_page(session, QueuePage()).total == 0
        run = flag_label_issues(session, EVERYTHING)
    assert run.reviewed == 90 and run.without_embedding == 0 and run.encoder == ENCODER
    assert run.checked["intent"] == 90 and "fewer than 2 labels" in run.skipped["urgency"]
    assert {(f.message_id, f.head) for f in run.flagged} == {(mid, "intent") for mid in PLANTED}

    with migrated_store.sessions() as session:
        flags = {f.message_id: f for f in open_flags(session)}
        assert flags["m003"].reviewed_label == "feedback" and flags["m003"].suggested_label == "spam"
        assert flags["m003"].reviewer_id == "alice" and flags["m003"].suggested_probability > 0.5
        assert flag_counts(session) == {"intent": 3}
        page = queue_page(session, QueuePage())
        assert page.total == 3
        for item in page.items:
            assert item.flagged and item.message_id in PLANTED
            assert item.flag_reason is not None and "cross-validated model says" in item.flag_reason
            assert FLAG_TIER <= item.priority < 10
            assert (item.needed_reviews, item.reviews_done) == (2, 1)
        # Alice made the flagged reviews: only someone else may take the second look.
        assert claim(session, "alice", QueueFilter(), limit=10, hold=timedelta(minutes=5)) == []
        assert {r.message_id for r in claim(session, "bob", QueueFilter(), limit=10, hold=timedelta(minutes=5))} == set(
            PLANTED
        )
        session.commit()


def test_a_second_look_resolves_the_flag_and_a_kept_label_is_not_flagged_again(migrated_store: MigratedStore):
    reviewed_store(migrated_store)
    with migrated_store.sessions() as session:
        flag_label_issues(session, EVERYTHING)
        # Bob corrects m003, keeps Alice's label on m040, and leaves m075 alone.
        fixed = submit_one(session, ReviewIn(message_id="m003", intent="spam", status="submitted"), BOB)
        kept = submit_one(session, ReviewIn(message_id="m040", intent="support_request", status="submitted"), BOB)
        assert fixed.queue == kept.queue == "completed"
        # Alice revising her own flagged review does not count as the second look.
        submit_one(session, ReviewIn(message_id="m075", intent="spam", status="submitted"), ALICE)
        assert {f.message_id for f in open_flags(session)} == {"m075"}
        resolved = session.scalars(select(ReviewFlagRecord).where(ReviewFlagRecord.resolved_by == "bob")).all()
        assert {f.message_id for f in resolved} == {"m003", "m040"}

        again = flag_label_issues(session, EVERYTHING)
        assert again.flagged == []
        page = queue_page(session, QueuePage())
        assert [i.message_id for i in page.items] == ["m075"] and page.items[0].flagged


def test_a_flagged_message_never_queued_enters_the_queue(migrated_store: MigratedStore):
    reviewed_store(migrated_store)
    with migrated_store.sessions() as session:
        session.query(QueueItemRecord).filter(QueueItemRecord.message_id == "m003").delete()
        session.commit()
        flag_label_issues(session, QueueRules(sample_rate=0.0, low_margin=0.0, second_share=0.0))
        item = session.get(QueueItemRecord, "m003")
        assert item is not None and item.reason == "sample" and item.first_reviewer_id == "alice"
        assert item.completed_at is None and FLAG_TIER <= item.priority < 10


def test_without_stored_embeddings_or_enough_labels_nothing_is_flagged(migrated_store: MigratedStore):
    with migrated_store.sessions() as session:
        run = flag_label_issues(session)
    assert run.reviewed == 0 and run.flagged == [] and "0 reviewed messages" in run.summary()


def test_flag_priority_sits_between_uncertain_and_critical_items():
    assert flag_priority(0.0) == FLAG_TIER and flag_priority(1.0) == 9.99 and flag_priority(7) == 9.99
