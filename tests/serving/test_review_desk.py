"""The review page's reads and writes on both stores: next item, skips, releases, threads, progress today."""

from __future__ import annotations

from datetime import timedelta

from data.taxonomy import default_taxonomy
from serving.auth import Caller
from serving.review_schemas import ReviewIn
from serving.reviewing import submit_one
from serving.store.keys import Role
from serving.store.review_queue import release_claim
from serving.store.review_tables import QueueItemRecord
from serving.store.tables import utcnow
from serving.web.review_desk import next_item, submitted_today
from tests.serving.conftest import MigratedStore
from tests.serving.web_data import seed_inbox

HOLD = timedelta(minutes=10)
ANN = Caller("ann", Role.REVIEW, "Ann")


def test_next_item_claims_in_queue_order_keeps_it_and_honours_skips(migrated_store: MigratedStore):
    taxonomy = default_taxonomy()
    with migrated_store.sessions() as session:
        first, second, third = seed_inbox(session)
        item = next_item(session, "ann", taxonomy, hold=HOLD)
        session.commit()
        assert item is not None and item.message.id == first.id
        assert [m.id for m in item.thread] == ["gate-0", first.id]
        urgency = next(h for h in item.heads if h.name == "urgency")
        assert (urgency.suggested, urgency.probability, urgency.abstained) == ("critical", 0.55, False)
        assert [c.label for c in urgency.choices] == list(taxonomy["urgency"].labels)
        assert {c.label: c.probability for c in urgency.choices}["high"] == 0.35
        again = next_item(session, "ann", taxonomy, hold=HOLD)
        assert again is not None and again.message.id == first.id  # still hers
        other = next_item(session, "bob", taxonomy, hold=HOLD)
        assert other is not None and other.message.id == second.id  # ann holds the first
        release_claim(session, first.id, "ann")
        session.commit()
        skipped = next_item(session, "ann", taxonomy, skipped=[first.id], hold=HOLD)
        assert skipped is not None and skipped.message.id == third.id  # bob holds the second
        assert next_item(session, "ann", taxonomy, skipped=[first.id, third.id], hold=HOLD) is None
        session.commit()
        held = session.get(QueueItemRecord, first.id, populate_existing=True)
        assert held is not None and held.claimed_by is None
        sarcastic = next(h for h in skipped.heads if h.name == "intent")
        assert (sarcastic.abstained, sarcastic.abstain_reason) == (True, "low_confidence")
        assert skipped.thread == []


def test_submitted_today_counts_messages_not_revisions_nor_discards(migrated_store: MigratedStore):
    with migrated_store.sessions() as session:
        first, second, third = seed_inbox(session)
        assert submitted_today(session, "ann") == 0
        for intent in ("spam", "feedback"):
            submit_one(session, ReviewIn(message_id=first.id, status="submitted", intent=intent), ANN)
        submit_one(session, ReviewIn(message_id=second.id, status="discarded", note="unclear"), ANN)
        submit_one(
            session, ReviewIn(message_id=third.id, status="submitted", intent="spam"), Caller("bob", Role.REVIEW)
        )
        assert submitted_today(session, "ann") == 1
        assert submitted_today(session, "ann", now=utcnow() + timedelta(days=1)) == 0
