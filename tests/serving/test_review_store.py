"""Reviews on SQLite and PostgreSQL: append-only revisions, finishing queue items, second reviews, statistics."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sklearn.metrics import cohen_kappa_score
from sqlalchemy import select

from models.prediction import AbstainReason
from serving.store.review_queue import QueueFilter, QueueRules, claim, queue_state
from serving.store.review_stats import review_stats
from serving.store.review_tables import QueueItemRecord, ReviewRecord
from serving.store.reviews import UnknownMessage, Verdict, current_reviews, record_review, review_history
from tests.serving.conftest import MigratedStore
from tests.serving.review_data import T0, head, prediction, store

UNSURE = prediction(intent=head({"feedback": 0.4, "other": 0.38}, AbstainReason.LOW_MARGIN))
DOUBLE = QueueRules(sample_rate=0.0, second_share=1.0)
HOLD = timedelta(minutes=10)


def review(
    session, message_id: str, reviewer: str, status: str = "submitted", when=T0, note=None, **labels
) -> ReviewRecord:
    verdict = Verdict(message_id, status, labels, note)
    record = record_review(session, verdict, reviewer_id=reviewer, reviewer_name=reviewer.title(), now=when)
    session.commit()
    return record


def item(session, message_id: str) -> QueueItemRecord | None:
    return session.get(QueueItemRecord, message_id, populate_existing=True)


def test_a_changed_review_is_a_new_revision_and_nothing_is_overwritten(migrated_store: MigratedStore):
    with migrated_store.sessions() as session:
        [mid] = store(session, [UNSURE])
        first = review(session, mid, "ana", "draft", intent="feedback")
        second = review(session, mid, "ana", "submitted", when=T0 + timedelta(minutes=1), intent="support_request")
        other = review(session, mid, "bo", "submitted", intent="feedback", urgency="high")
        third = review(session, mid, "ana", "submitted", when=T0 + timedelta(minutes=2), intent="other", note="sure?")
        assert [first.revision, second.revision, third.revision, other.revision] == [1, 2, 3, 1]
        assert first.model_version == "1" and first.reviewer_name == "Ana"
        history = review_history(session, mid)
        assert [(r.reviewer_id, r.revision, r.status, r.intent) for r in history] == [
            ("ana", 1, "draft", "feedback"),
            ("ana", 2, "submitted", "support_request"),
            ("bo", 1, "submitted", "feedback"),
            ("ana", 3, "submitted", "other"),
        ]
        current = {r.reviewer_id: r for r in current_reviews(session, message_ids=[mid])}
        assert (current["ana"].revision, current["ana"].intent, current["ana"].note) == (3, "other", "sure?")
        assert current["bo"].urgency == "high" and current["bo"].sentiment is None


def test_only_a_finished_review_takes_a_message_out_of_the_queue(migrated_store: MigratedStore):
    with migrated_store.sessions() as session:
        submitted, discarded, drafted = store(session, [UNSURE] * 3)
        claim(session, "ana", QueueFilter(), limit=3, hold=HOLD)
        session.commit()
        review(session, drafted, "ana", "draft", intent="feedback")
        review(session, submitted, "ana", "submitted", intent="feedback")
        review(session, discarded, "ana", "discarded")
        assert queue_state(item(session, drafted)) == "open" and item(session, drafted).claimed_by == "ana"
        assert queue_state(item(session, submitted)) == "completed"
        assert queue_state(item(session, discarded)) == "completed"
        done = item(session, submitted)
        assert done.claimed_by is None and done.reviews_done == 1 and done.first_reviewer_id == "ana"
        # A later revision of a finished review does not count twice.
        review(session, submitted, "ana", "submitted", intent="other")
        assert item(session, submitted).reviews_done == 1
        [confident] = store(session, [prediction()])
        assert queue_state(item(session, confident)) == "not_queued"
        assert review(session, confident, "ana", intent="feedback").revision == 1


def test_a_double_review_item_goes_to_a_second_different_reviewer(migrated_store: MigratedStore):
    with migrated_store.sessions() as session:
        [mid] = store(session, [UNSURE], DOUBLE)
        assert item(session, mid).needed_reviews == 2
        [claimed] = claim(session, "ana", QueueFilter(), limit=5, hold=HOLD)
        assert claimed.message_id == mid
        session.commit()
        review(session, mid, "ana", intent="feedback")
        assert queue_state(item(session, mid)) == "awaiting_second_review"
        assert item(session, mid).claimed_by is None
        assert claim(session, "ana", QueueFilter(), limit=5, hold=HOLD) == []
        review(session, mid, "ana", intent="other")  # the same reviewer again does not count as the second
        assert queue_state(item(session, mid)) == "awaiting_second_review"
        [second] = claim(session, "bo", QueueFilter(), limit=5, hold=HOLD)
        session.commit()
        assert second.message_id == mid
        review(session, mid, "bo", intent="feedback")
        done = item(session, mid)
        assert queue_state(done) == "completed" and done.reviews_done == 2 and done.claimed_by is None


def test_a_review_of_an_unknown_message_is_refused(migrated_store: MigratedStore):
    with migrated_store.sessions() as session, pytest.raises(UnknownMessage):
        record_review(session, Verdict("nope", "submitted", {"intent": "spam"}), reviewer_id="ana")
    with pytest.raises(ValueError, match="status"):
        Verdict("x", "approved")


def test_stats_count_corrections_agreement_and_kappa(migrated_store: MigratedStore):
    spam = prediction(intent=head({"spam": 0.5, "other": 0.45}))
    feedback = prediction(intent=head({"feedback": 0.5, "other": 0.45}))
    with migrated_store.sessions() as session:
        a, b, c, d = store(session, [spam, spam, feedback, feedback], DOUBLE)
        # Ana and Bo review all four; on intent they agree on three of four.
        for mid, ana, bo in [
            (a, "spam", "spam"),
            (b, "spam", "feedback"),
            (c, "feedback", "feedback"),
            (d, "other", "other"),
        ]:
            review(session, mid, "ana", intent=ana)
            review(session, mid, "bo", intent=bo, when=T0 + timedelta(days=1))
        review(session, a, "cy", "draft", intent="other", when=T0 + timedelta(days=1))
        review(session, b, "ana", "discarded", when=T0 + timedelta(days=1))  # replaces Ana's submitted review
        stats = review_stats(session, now=T0 + timedelta(days=1))

    assert stats.per_day == {
        "2026-03-02": {"draft": 0, "submitted": 4, "discarded": 0},
        "2026-03-03": {"draft": 1, "submitted": 4, "discarded": 1},
    }
    intent = stats.heads["intent"]
    # Current submitted: ana on a, c, d; bo on a, b, c, d. Corrected: ana d (feedback->other); bo b, d.
    assert (intent.corrections.reviewed, intent.corrections.corrected) == (7, 3)
    assert intent.corrections.rate == pytest.approx(3 / 7)
    by_label = {label: (c.reviewed, c.corrected) for label, c in intent.by_predicted_label.items()}
    assert by_label == {"spam": (3, 1), "feedback": (4, 2)}
    assert stats.heads["urgency"].corrections.reviewed == 0 and stats.heads["urgency"].corrections.rate is None
    # Items with two current submitted reviews: a, c, d (Ana discarded b).
    pair = intent.reviewers
    assert (pair.first, pair.second) == (["spam", "feedback", "other"], ["spam", "feedback", "other"])
    assert pair.agreement == 1.0 and pair.kappa == 1.0
    assert (stats.queue.open, stats.queue.completed) == (0, 4)


def test_kappa_matches_scikit_learn_on_a_constructed_case():
    from serving.store.review_stats import ReviewerAgreement

    first = ["spam", "spam", "feedback", "other"]
    second = ["spam", "feedback", "feedback", "other"]
    pair = ReviewerAgreement(first, second)
    assert pair.kappa == pytest.approx(0.6364, abs=1e-4)  # po 0.75, pe 5/16
    assert pair.kappa == pytest.approx(cohen_kappa_score(first, second), abs=1e-4)
    assert pair.agreement == 0.75
    assert ReviewerAgreement(["spam", "spam"], ["spam", "spam"]).kappa is None
    assert ReviewerAgreement(["spam"], ["other"]).kappa is None


def test_queue_counts_in_stats(migrated_store: MigratedStore):
    with migrated_store.sessions() as session:
        ids = store(session, [UNSURE] * 3, DOUBLE)
        claim(session, "ana", QueueFilter(), limit=1, hold=HOLD, now=T0)
        session.commit()
        review(session, ids[1], "bo", intent="feedback")
        stats = review_stats(session, now=T0 + timedelta(minutes=1))
        assert (stats.queue.open, stats.queue.claimed, stats.queue.awaiting_second_review) == (3, 1, 1)
        assert session.scalar(select(QueueItemRecord.reviews_done).where(QueueItemRecord.message_id == ids[1])) == 1


def test_concurrent_reviews_finish_each_item_once(migrated_store: MigratedStore):
    with migrated_store.sessions() as session:
        ids = store(session, [UNSURE] * 20)
    start = threading.Barrier(2)

    def reviewer(name: str) -> None:
        with migrated_store.sessions() as session:
            start.wait()
            for mid in ids:
                review(session, mid, name, intent="feedback")

    threads = [threading.Thread(target=reviewer, args=(name,)) for name in ("ana", "bo")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with migrated_store.sessions() as session:
        items = session.scalars(select(QueueItemRecord)).all()
        assert len(items) == 20
        assert all(i.reviews_done == 1 and i.completed_at is not None for i in items)
        assert len(current_reviews(session, status="submitted")) == 40
