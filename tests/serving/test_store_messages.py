"""Classified messages are stored once per platform message, with their suggestions and embeddings."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy import delete, func, select

from data.schema import Channel, Message
from models.prediction import AbstainReason, HeadPrediction, Prediction
from serving.store.embeddings import embedding_record, load_embeddings
from serving.store.messages import (
    ClassifiedMessage,
    find_by_external_id,
    save_classified,
    save_classified_many,
)
from serving.store.suggestions import stored_prediction
from serving.store.tables import EmbeddingRecord, MessageRecord, SuggestionRecord
from tests.serving.conftest import MigratedStore

ENCODER = "hashing.v1:8@3"


def a_prediction(intent: str = "support_request") -> Prediction:
    """Three heads, one of them abstaining."""
    return Prediction(
        {
            "intent": HeadPrediction(intent, 0.734512, {intent: 0.734512, "other": 0.265488}),
            "urgency": HeadPrediction(
                "high", 0.41, {"high": 0.41, "normal": 0.39, "low": 0.2}, True, AbstainReason.LOW_CONFIDENCE
            ),
            "sentiment": HeadPrediction("negative", 0.9, {"negative": 0.9, "neutral": 0.07, "positive": 0.03}),
        }
    )


def a_message(external_id: str | None = "tw-1", channel: Channel = Channel.TWITTER, **fields) -> Message:
    return Message(text="my order never arrived", external_id=external_id, channel=channel, **fields)


def save(session, message: Message, model_version: str = "3", embedding: np.ndarray | None = None) -> MessageRecord:
    return save_classified(
        session,
        message,
        a_prediction(),
        model_name="tidings-classifier",
        model_version=model_version,
        embedding=embedding,
        encoder=ENCODER if embedding is not None else None,
    )


def count(session, table) -> int:
    return session.scalar(select(func.count()).select_from(table))


def test_saving_stores_the_message_with_one_suggestion_per_head(migrated_store: MigratedStore):
    message = a_message(space="acme", author="@ann", thread_id="t9", language="en", metadata={"likes": 3})
    with migrated_store.sessions() as session:
        record = save(session, message, embedding=np.arange(8, dtype=np.float32))
        session.commit()
    with migrated_store.sessions() as session:
        stored = session.get(MessageRecord, record.id)
        assert stored is not None
        assert (stored.id, stored.external_id, stored.channel) == (message.id, "tw-1", "twitter")
        assert (stored.space, stored.author, stored.thread_id, stored.language) == ("acme", "@ann", "t9", "en")
        assert (stored.text, stored.meta) == (message.text, {"likes": 3})
        assert stored.created_at == message.created_at
        assert stored.received_at.tzinfo is not None
        assert [s.head for s in stored.suggestions] == ["intent", "urgency", "sentiment"]
        assert count(session, EmbeddingRecord) == 1
        assert find_by_external_id(session, Channel.TWITTER, "tw-1") == stored
        assert find_by_external_id(session, "twitter", "tw-2") is None
        assert find_by_external_id(session, Channel.REDDIT, "tw-1") is None


def test_saving_the_same_platform_message_again_returns_the_first_record(migrated_store: MigratedStore):
    with migrated_store.sessions() as session:
        first = save(session, a_message(), embedding=np.ones(8, dtype=np.float32))
        session.commit()
    with migrated_store.sessions() as session:
        again = save(session, a_message(), model_version="4", embedding=np.zeros(8, dtype=np.float32))
        session.commit()
        assert again.id == first.id
        assert [count(session, t) for t in (MessageRecord, SuggestionRecord, EmbeddingRecord)] == [1, 3, 1]
        assert stored_prediction(session, first.id).model_version == "3"


def test_messages_without_external_id_never_collide(migrated_store: MigratedStore):
    with migrated_store.sessions() as session:
        ids = {save(session, a_message(external_id=None)).id for _ in range(3)}
        same_platform_id_elsewhere = save(session, a_message(channel=Channel.REDDIT)).id
        session.commit()
        assert len(ids | {same_platform_id_elsewhere}) == 4
        assert count(session, MessageRecord) == 4


def test_a_batch_stores_each_platform_message_once(migrated_store: MigratedStore):
    with migrated_store.sessions() as session:
        existing = save(session, a_message("old"))
        session.commit()

    items = [
        ClassifiedMessage(
            a_message(external_id), a_prediction(), "tidings-classifier", "3", np.full(8, n, "<f4"), ENCODER
        )
        for n, external_id in enumerate(["new", "old", "new", None, None, "other"])
    ]
    with migrated_store.sessions() as session:
        records = save_classified_many(session, items)
        session.commit()
        assert [r.external_id for r in records] == ["new", "old", "new", None, None, "other"]
        assert records[1].id == existing.id
        assert records[0].id == records[2].id == items[0].message.id
        assert records[3].id != records[4].id
        assert [count(session, t) for t in (MessageRecord, SuggestionRecord, EmbeddingRecord)] == [5, 15, 4]
        assert load_embeddings(session, [records[2].id], ENCODER)[0, 0] == 0.0  # the batch's first copy won
        assert save_classified_many(session, []) == []


def test_a_reused_message_id_is_an_error_not_a_silent_merge(migrated_store: MigratedStore):
    from sqlalchemy.exc import IntegrityError

    message = a_message("a")
    with migrated_store.sessions() as session:
        save(session, message)
        session.commit()
        with pytest.raises(IntegrityError):
            save(session, message.model_copy(update={"external_id": "b"}))


def test_concurrent_saves_of_one_platform_message_keep_one_row(migrated_store: MigratedStore):
    """Both writers pass the existence check before either commits; the loser gets the winner's row."""
    rounds, results = 5, {}
    barrier = threading.Barrier(2)

    def writer(name: str) -> None:
        with migrated_store.sessions() as session:
            for n in range(rounds):
                barrier.wait(timeout=10)
                record = save(session, a_message(f"race-{n}"), embedding=np.ones(8, dtype=np.float32))
                session.commit()
                results[name, n] = record.id

    threads = [threading.Thread(target=writer, args=(name,)) for name in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 2 * rounds
    assert all(results["a", n] == results["b", n] for n in range(rounds))
    with migrated_store.sessions() as session:
        assert [count(session, t) for t in (MessageRecord, SuggestionRecord, EmbeddingRecord)] == [5, 15, 5]


def test_a_writer_that_loses_the_race_waits_and_returns_the_winners_row(migrated_store: MigratedStore):
    winner_session = migrated_store.sessions()
    winner = save(winner_session, a_message("race"))  # inserted, not yet committed
    outcome: dict[str, str] = {}

    def loser() -> None:
        with migrated_store.sessions() as session:
            outcome["id"] = save(session, a_message("race")).id
            session.commit()

    thread = threading.Thread(target=loser)
    thread.start()
    time.sleep(0.3)
    assert thread.is_alive(), "the second insert should wait for the first transaction"
    winner_session.commit()
    winner_session.close()
    thread.join(timeout=20)
    assert outcome == {"id": winner.id}
    with migrated_store.sessions() as session:
        assert [count(session, t) for t in (MessageRecord, SuggestionRecord)] == [1, 3]


def test_stored_prediction_rebuilds_the_prediction(migrated_store: MigratedStore):
    with migrated_store.sessions() as session:
        record = save(session, a_message())
        session.commit()
    with migrated_store.sessions() as session:
        stored = stored_prediction(session, record.id)
        assert stored is not None
        assert stored.prediction == a_prediction()
        assert list(stored.prediction.heads) == ["intent", "urgency", "sentiment"]
        assert stored.prediction["urgency"].reason is AbstainReason.LOW_CONFIDENCE
        assert stored.prediction.needs_review
        assert (stored.message_id, stored.model_name, stored.model_version) == (record.id, "tidings-classifier", "3")
        assert stored_prediction(session, "no-such-message") is None
        assert stored_prediction(session, record.id, model_version="99") is None


def test_stored_prediction_defaults_to_the_latest_model_version(migrated_store: MigratedStore):
    with migrated_store.sessions() as session:
        record = save(session, a_message())
        newer = a_prediction("feedback")
        for head, answer in newer.heads.items():
            session.add(
                SuggestionRecord(
                    message_id=record.id,
                    head=head,
                    label=answer.label,
                    probability=answer.probability,
                    probabilities=answer.probabilities,
                    abstained=answer.abstained,
                    reason=answer.reason,
                    model_name="tidings-classifier",
                    model_version="10",
                    created_at=datetime.now(UTC) + timedelta(seconds=1),
                )
            )
        session.commit()
        assert stored_prediction(session, record.id).prediction == newer
        assert stored_prediction(session, record.id, model_version="3").prediction == a_prediction()


def test_embeddings_round_trip_exactly_as_float32(migrated_store: MigratedStore):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3, 384)).astype(np.float32)
    with migrated_store.sessions() as session:
        ids = [save(session, a_message(f"e{n}"), embedding=vector).id for n, vector in enumerate(vectors)]
        session.commit()
    with migrated_store.sessions() as session:
        loaded = load_embeddings(session, ids[::-1], ENCODER)
        assert loaded.dtype == np.float32
        np.testing.assert_array_equal(loaded, vectors[::-1])
        assert load_embeddings(session, [], ENCODER).shape == (0, 0)
        with pytest.raises(KeyError, match="other-encoder"):
            load_embeddings(session, ids, "other-encoder")
        with pytest.raises(KeyError):
            load_embeddings(session, [*ids, "missing"], ENCODER)


def test_an_embedding_needs_its_encoder_and_one_dimension():
    with pytest.raises(ValueError, match="encoder"):
        ClassifiedMessage(a_message(), a_prediction(), "m", "1", np.ones(4, dtype=np.float32), None)
    with pytest.raises(ValueError, match="one vector"):
        embedding_record("m1", np.ones((2, 4), dtype=np.float32), ENCODER)


def test_created_at_defaults_to_now_and_naive_times_are_utc(migrated_store: MigratedStore):
    before = datetime.now(UTC)
    tokyo = timezone(timedelta(hours=9))
    with migrated_store.sessions() as session:
        defaulted = save(session, a_message("now"))
        naive = save(session, a_message("naive", created_at=datetime(2025, 1, 2, 3, 4, 5)))
        aware = save(session, a_message("tokyo", created_at=datetime(2025, 1, 2, 12, 4, 5, tzinfo=tokyo)))
        session.commit()
    with migrated_store.sessions() as session:
        created = {r.external_id: r.created_at for r in session.scalars(select(MessageRecord))}
    assert before <= created["now"] <= datetime.now(UTC)
    assert created["naive"] == created["tokyo"] == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert all(value.tzinfo is UTC for value in created.values())
    assert defaulted.id and naive.id and aware.id


def test_deleting_a_message_deletes_its_suggestions_and_embeddings(migrated_store: MigratedStore):
    with migrated_store.sessions() as session:
        record = save(session, a_message(), embedding=np.ones(8, dtype=np.float32))
        session.commit()
        session.execute(delete(MessageRecord).where(MessageRecord.id == record.id))
        session.commit()
        assert [count(session, t) for t in (MessageRecord, SuggestionRecord, EmbeddingRecord)] == [0, 0, 0]
