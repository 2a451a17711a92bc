"""Privacy in the store: text redacted on the way in and in exports, and expired after the retention period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from data.schema import Channel, Message
from data.settings import Settings
from serving.cli import app
from serving.retention import EXPIRED_TEXT, cutoff_for, expire_text
from serving.store.db import make_engine, make_sessionmaker, upgrade
from serving.store.embeddings import load_embeddings
from serving.store.messages import ClassifiedMessage, save_classified_many
from serving.store.review_export import review_rows
from serving.store.reviews import Verdict, record_review
from serving.store.tables import MessageRecord, SuggestionRecord
from tests.serving.conftest import MigratedStore
from tests.serving.review_data import prediction

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
ENCODER = "tiny/1"
PERSONAL = "call me on +44 20 7946 0958 or mail jo@example.com about order #5512"
REDACTED = "call me on [PHONE] or mail [EMAIL] about order #5512"


def store_messages(sessions, ages_in_days: list[int], text: str = "my order never arrived", **kwargs) -> list[str]:
    """One message per age, with suggestions and an embedding; commits; returns their ids."""
    items = [
        ClassifiedMessage(
            Message(text=text, channel=Channel.TWITTER, created_at=NOW - timedelta(days=age)),
            prediction(),
            "tidings-classifier",
            "1",
            np.full(4, float(i), dtype=np.float32),
            ENCODER,
        )
        for i, age in enumerate(ages_in_days)
    ]
    with sessions() as session:
        save_classified_many(session, items, **kwargs)
        session.commit()
    return [item.message.id for item in items]


def texts(sessions) -> dict[str, str]:
    with sessions() as session:
        return {row.id: row.text for row in session.execute(select(MessageRecord.id, MessageRecord.text))}


def test_stored_text_is_redacted_by_default(migrated_store: MigratedStore, settings: Settings):
    assert settings.redact_stored_text is True
    [kept] = store_messages(migrated_store.sessions, [0], text=PERSONAL)
    assert texts(migrated_store.sessions)[kept] == REDACTED


def test_redaction_can_be_turned_off_per_call(migrated_store: MigratedStore):
    [kept] = store_messages(migrated_store.sessions, [0], text=PERSONAL, redact_text=False)
    assert texts(migrated_store.sessions)[kept] == PERSONAL


def test_the_setting_turns_stored_redaction_off(
    migrated_store: MigratedStore, settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    from data.settings import get_settings

    monkeypatch.setenv("TIDINGS_REDACT_STORED_TEXT", "false")
    get_settings.cache_clear()
    try:
        [kept] = store_messages(migrated_store.sessions, [0], text=PERSONAL)
    finally:
        monkeypatch.delenv("TIDINGS_REDACT_STORED_TEXT")
        get_settings.cache_clear()
    assert texts(migrated_store.sessions)[kept] == PERSONAL


def test_exports_redact_text_stored_before_redaction_was_on(migrated_store: MigratedStore, settings: Settings):
    [message_id] = store_messages(migrated_store.sessions, [0], text=PERSONAL, redact_text=False)
    with migrated_store.sessions() as session:
        record_review(session, Verdict(message_id, "submitted", {"intent": "support_request"}), reviewer_id="r1")
        session.commit()
        [row] = review_rows(session)
        assert row["text"] == REDACTED and row["intent"] == "support_request"
        [raw] = review_rows(session, redact_text=False)
        assert raw["text"] == PERSONAL


def test_retention_blanks_old_text_and_keeps_everything_else(migrated_store: MigratedStore):
    sessions = migrated_store.sessions
    old, boundary, fresh = store_messages(sessions, [40, 30, 3])
    with sessions() as session:
        record_review(session, Verdict(old, "submitted", {"intent": "feedback"}), reviewer_id="r1")
        session.commit()
        result = expire_text(session, 30, now=NOW + timedelta(seconds=1))
        session.commit()
    assert result.expired == 2 and result.cutoff == NOW + timedelta(seconds=1) - timedelta(days=30)
    assert texts(sessions) == {old: EXPIRED_TEXT, boundary: EXPIRED_TEXT, fresh: "my order never arrived"}
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(SuggestionRecord)) == 9
        vectors = load_embeddings(session, [old, boundary, fresh], ENCODER)
        assert vectors[:, 0].tolist() == [0.0, 1.0, 2.0]
        [row] = review_rows(session)
        assert row["message_id"] == old and row["intent"] == "feedback" and row["text"] == EXPIRED_TEXT
        assert row["predicted_intent"] == "feedback"
        # A second pass finds nothing more to do.
        assert expire_text(session, 30, now=NOW + timedelta(seconds=1)).expired == 0


def test_a_dry_run_counts_and_changes_nothing(migrated_store: MigratedStore):
    store_messages(migrated_store.sessions, [10, 1])
    with migrated_store.sessions() as session:
        result = expire_text(session, 5, now=NOW, dry_run=True)
        session.commit()
    assert result.expired == 1 and result.dry_run
    assert set(texts(migrated_store.sessions).values()) == {"my order never arrived"}


def test_a_retention_period_is_at_least_a_day():
    with pytest.raises(ValueError, match="at least 1 day"):
        cutoff_for(0)
    assert cutoff_for(1, NOW) == NOW - timedelta(days=1)


runner = CliRunner()


def test_the_command_expires_text_in_the_configured_store(settings: Settings):
    upgrade(settings.store_url)
    engine = make_engine(settings.store_url)
    sessions = make_sessionmaker(engine)
    old, new = store_messages(sessions, [400, 0])
    dry = runner.invoke(app, ["retention", "--days", "365", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would blank the text of 1 message(s)" in dry.stdout
    done = runner.invoke(app, ["retention", "--days", "365"])
    assert done.exit_code == 0, done.output
    assert "blanked the text of 1 message(s)" in done.stdout
    assert texts(sessions) == {old: EXPIRED_TEXT, new: "my order never arrived"}
    engine.dispose()


def test_the_command_reads_the_setting_and_refuses_when_retention_is_off(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    upgrade(settings.store_url)
    off = runner.invoke(app, ["retention"])
    assert off.exit_code == 2 and "retention is off" in off.output
    from data.settings import get_settings

    monkeypatch.setenv("TIDINGS_RETENTION_DAYS", "90")
    get_settings.cache_clear()
    on = runner.invoke(app, ["retention"])
    assert on.exit_code == 0, on.output
    assert "blanked the text of 0 message(s)" in on.stdout
    get_settings.cache_clear()


def test_the_command_refuses_an_unmigrated_store(settings: Settings):
    result = runner.invoke(app, ["retention", "--days", "30"])
    assert result.exit_code == 1 and "tidings db upgrade" in result.output
