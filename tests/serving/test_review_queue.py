"""The review queue on SQLite and PostgreSQL: who enters it, in what order, and claims that never overlap."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from data.schema import Channel
from models.prediction import AbstainReason
from serving.store.review_queue import QueueFilter, QueueRules, claim, hash_fraction, open_items, priority
from serving.store.review_tables import QueueItemRecord
from tests.serving.conftest import MigratedStore
from tests.serving.review_data import NO_SAMPLE, T0, head, prediction, store, sure

HOLD = timedelta(minutes=10)


def queued(store_: MigratedStore) -> dict[str, QueueItemRecord]:
    with store_.sessions() as session:
        return {r.message_id: r for r in session.scalars(select(QueueItemRecord))}


def test_messages_enter_the_queue_for_the_documented_reasons(migrated_store: MigratedStore):
    rules = QueueRules(sample_rate=0.02, low_margin=0.15, second_share=0.0)
    assert hash_fraction("msg-23", "sample") < 0.02 <= hash_fraction("msg-0", "sample")
    predictions = {
        "msg-0": prediction(),  # confident, not in the 2% sample
        "msg-23": prediction(),  # confident, in the sample
        "abstained": prediction(sentiment=head({"neutral": 0.4, "negative": 0.35}, AbstainReason.LOW_CONFIDENCE)),
        "low-margin": prediction(intent=head({"feedback": 0.52, "support_request": 0.42})),
        "critical": prediction(urgency=sure("critical", runner_up="high")),
    }
    with migrated_store.sessions() as session:
        store(session, list(predictions.values()), rules, ids=list(predictions))
    found = queued(migrated_store)
    assert {mid: r.reason for mid, r in found.items()} == {
        "msg-23": "sample",
        "abstained": "abstained",
        "low-margin": "low_margin",
        "critical": "critical",
    }
    low = found["low-margin"]
    assert (low.intent_uncertain, low.urgency_uncertain, low.sentiment_uncertain) == (True, False, False)
    assert (low.intent, low.urgency, low.sentiment) == ("feedback", "normal", "neutral")
    assert low.channel == "twitter" and low.space == "Acme" and low.message_created_at == T0
    assert low.model_version == "1" and low.needed_reviews == 1 and low.completed_at is None


def test_sampling_and_second_review_routing_are_fixed_by_the_message_id():
    ids = [f"m{i}" for i in range(4000)]
    rules = QueueRules(sample_rate=0.02, second_share=0.1)
    sampled = [i for i in ids if rules.reason(i, prediction()) == "sample"]
    assert 0.015 < len(sampled) / len(ids) < 0.025
    assert sampled == [i for i in ids if rules.reason(i, prediction()) == "sample"]
    doubled = [i for i in ids if rules.needed_reviews(i) == 2]
    assert 0.09 < len(doubled) / len(ids) < 0.11


def test_priority_is_tier_plus_urgency_weight_times_uncertainty():
    # Urgency high 0.6 / normal 0.4: weight 0.6*3 + 0.4*2 = 2.6; smallest margin 0.2 -> uncertainty 0.8.
    p = prediction(urgency=head({"high": 0.6, "normal": 0.4}))
    assert priority("low_margin", p) == pytest.approx(5 + 2.6 * 0.8)
    assert priority("sample", p) == pytest.approx(2.6 * 0.8)
    assert priority("critical", prediction(urgency=sure("critical", runner_up="high"))) >= 10


def test_the_queue_is_ordered_critical_then_uncertain_and_urgent_then_sampled(migrated_store: MigratedStore):
    rules = QueueRules(sample_rate=1.0, low_margin=0.15, second_share=0.0)
    predictions = {
        "sampled": prediction(),
        "unsure-low": prediction(
            intent=head({"feedback": 0.4, "other": 0.38}, AbstainReason.LOW_MARGIN),
            urgency=sure("low", runner_up="normal"),
        ),
        "unsure-high": prediction(
            intent=head({"feedback": 0.4, "other": 0.38}, AbstainReason.LOW_MARGIN),
            urgency=sure("high", runner_up="normal"),
        ),
        "critical": prediction(urgency=sure("critical", 0.8, runner_up="high")),
    }
    with migrated_store.sessions() as session:
        store(session, list(predictions.values()), rules, ids=list(predictions))
        items, total = open_items(session, QueueFilter())
    assert total == 4
    assert [i.message_id for i in items] == ["critical", "unsure-high", "unsure-low", "sampled"]
    assert [i.priority for i in items] == sorted((i.priority for i in items), reverse=True)


def test_filters_narrow_the_queue(migrated_store: MigratedStore):
    unsure_sentiment = prediction(sentiment=head({"neutral": 0.4, "negative": 0.35}, AbstainReason.LOW_CONFIDENCE))
    with migrated_store.sessions() as session:
        [email] = store(session, [unsure_sentiment], ids=["email"], channel=Channel.EMAIL, space="Beta")
        [later] = store(session, [unsure_sentiment], ids=["later"], created_at=T0 + timedelta(days=3))
        [spam] = store(session, [prediction(intent=head({"spam": 0.5, "other": 0.45}))], ids=["spam"])

        def ids(**where) -> set[str]:
            return {i.message_id for i in open_items(session, QueueFilter(**where))[0]}

        assert ids() == {email, later, spam}
        assert ids(head="sentiment") == {email, later}
        assert ids(head="intent") == {spam}
        assert ids(intent="spam") == {spam}
        assert ids(sentiment="neutral", channel="email") == {email}
        assert ids(space="Beta") == {email}
        assert ids(since=T0 + timedelta(days=1)) == {later}
        assert ids(until=T0 + timedelta(days=1)) == {email, spam}
        assert ids(reason="low_margin") == {spam}
        page, total = open_items(session, QueueFilter(), limit=1, offset=1)
        assert len(page) == 1 and total == 3


def unsure_messages(store_: MigratedStore, n: int) -> list[str]:
    unsure = prediction(intent=head({"feedback": 0.4, "other": 0.38}, AbstainReason.LOW_MARGIN))
    with store_.sessions() as session:
        return store(session, [unsure] * n)


def test_two_concurrent_claims_never_get_the_same_item(migrated_store: MigratedStore):
    ids = unsure_messages(migrated_store, 40)
    start = threading.Barrier(2)
    got: dict[str, list[str]] = {}

    def reviewer(name: str) -> None:
        with migrated_store.sessions() as session:
            start.wait()
            items = claim(session, name, QueueFilter(), limit=15, hold=HOLD)
            session.commit()
            got[name] = [i.message_id for i in items]

    threads = [threading.Thread(target=reviewer, args=(name,)) for name in ("ana", "bo")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(got["ana"]) == len(got["bo"]) == 15
    assert not set(got["ana"]) & set(got["bo"])
    with migrated_store.sessions() as session:
        rest = claim(session, "cy", QueueFilter(), limit=40, hold=HOLD)
        session.commit()
    assert {i.message_id for i in rest} == set(ids) - set(got["ana"]) - set(got["bo"])
    holders = {mid: r.claimed_by for mid, r in queued(migrated_store).items()}
    assert all(holders[m] == "ana" for m in got["ana"]) and all(holders[m] == "bo" for m in got["bo"])


def test_a_claim_expires_and_a_reviewer_gets_their_own_claims_back(migrated_store: MigratedStore):
    unsure_messages(migrated_store, 3)
    with migrated_store.sessions() as session:
        mine = claim(session, "ana", QueueFilter(), limit=2, hold=HOLD, now=T0)
        session.commit()
        assert len(mine) == 2 and all(i.claim_expires_at == T0 + HOLD for i in mine)
        others = claim(session, "bo", QueueFilter(), limit=5, hold=HOLD, now=T0 + timedelta(minutes=5))
        session.commit()
        assert len(others) == 1 and others[0].message_id not in {i.message_id for i in mine}
        again = claim(session, "ana", QueueFilter(), limit=2, hold=HOLD, now=T0 + timedelta(minutes=6))
        session.commit()
        assert {i.message_id for i in again} == {i.message_id for i in mine}
        assert all(i.claim_expires_at == T0 + timedelta(minutes=16) for i in again)
        # bo's claim lapsed at T0+15; ana's renewed one holds until T0+16.
        lapsed = claim(session, "cy", QueueFilter(), limit=5, hold=HOLD, now=T0 + timedelta(minutes=15, seconds=30))
        session.commit()
        assert [i.message_id for i in lapsed] == [others[0].message_id]
        late = claim(session, "cy", QueueFilter(), limit=5, hold=HOLD, now=T0 + timedelta(minutes=17))
        session.commit()
        assert {i.message_id for i in late} == {i.message_id for i in mine} | {others[0].message_id}
        assert all(i.claimed_by == "cy" for i in late)


def test_claims_follow_filters_and_priority(migrated_store: MigratedStore):
    with migrated_store.sessions() as session:
        store(session, [prediction(urgency=sure("critical", runner_up="high"))], ids=["crit"])
        unsure = prediction(intent=head({"feedback": 0.4, "other": 0.38}, AbstainReason.LOW_MARGIN))
        store(session, [unsure], NO_SAMPLE, ids=["chat"], channel=Channel.CHAT)
        first = claim(session, "ana", QueueFilter(), limit=1, hold=HOLD)
        assert [i.message_id for i in first] == ["crit"]
        chat = claim(session, "bo", QueueFilter(channel="chat"), limit=5, hold=HOLD)
        assert [i.message_id for i in chat] == ["chat"]
        assert claim(session, "cy", QueueFilter(), limit=5, hold=HOLD) == []
        session.commit()
