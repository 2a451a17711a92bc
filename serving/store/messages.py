"""Storing classified messages exactly once per platform message, and finding them again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from data.redaction import redact
from data.schema import Channel, Message
from data.settings import get_settings
from models.prediction import Prediction
from serving.store.embeddings import embedding_record
from serving.store.suggestions import suggestion_records
from serving.store.tables import MessageRecord, utcnow

PlatformKey = tuple[str, str]
_ROWS_PER_STATEMENT = 500


@dataclass(frozen=True)
class ClassifiedMessage:
    """A message with the prediction made for it and, optionally, its embedding: one item to store."""

    message: Message
    prediction: Prediction
    model_name: str
    model_version: str
    embedding: np.ndarray | None = None
    encoder: str | None = None

    def __post_init__(self) -> None:
        if self.embedding is not None and not self.encoder:
            raise ValueError("an embedding needs the name of the encoder that made it")


def find_by_external_id(session: Session, channel: Channel | str, external_id: str) -> MessageRecord | None:
    """The stored message with this platform id on this channel, if any."""
    return session.scalars(
        select(MessageRecord).where(MessageRecord.channel == str(channel), MessageRecord.external_id == external_id)
    ).one_or_none()


def save_classified(
    session: Session,
    message: Message,
    prediction: Prediction,
    *,
    model_name: str,
    model_version: str,
    embedding: np.ndarray | None = None,
    encoder: str | None = None,
) -> MessageRecord:
    """Store a message with one suggestion per head of `prediction` and its embedding; flushes, never commits.

    Idempotent on (channel, external_id): when that message is already stored, even by a concurrent
    writer, its record is returned and nothing is written. A message without external_id is always new.
    """
    item = ClassifiedMessage(message, prediction, model_name, model_version, embedding, encoder)
    return save_classified_many(session, [item])[0]


def save_classified_many(
    session: Session, items: Sequence[ClassifiedMessage], *, redact_text: bool | None = None
) -> list[MessageRecord]:
    """Store a batch like `save_classified`, in the caller's transaction; one record per item, in order.

    Text is stored redacted (`data.redaction`) when `redact_text`, by default the setting
    `redact_stored_text`; the prediction was made on the original.

    Items repeating a stored message, or an earlier item of the batch, get that message's record.
    Raises IntegrityError when a message's id is already stored under another (or no) platform id:
    Tidings' own ids are not an idempotency key.
    """
    received_at = utcnow()
    stored = _find_many(session, {key for item in items if (key := _platform_key(item.message))})
    claimed = set(stored)
    fresh = []
    for item in items:
        key = _platform_key(item.message)
        if key is None or key not in claimed:
            fresh.append(item)
            if key is not None:
                claimed.add(key)

    if redact_text is None:
        redact_text = get_settings().redact_stored_text
    inserted = _insert_new(session, [_message_row(item.message, received_at, redact_text) for item in fresh])
    written = [item for item in fresh if item.message.id in inserted]
    # Whatever was not inserted lost a race to a concurrent writer: read back the winner's row.
    lost = {key for item in fresh if item.message.id not in inserted and (key := _platform_key(item.message))}
    stored |= _find_many(session, lost)

    for item in written:
        session.add_all(
            suggestion_records(
                item.message.id,
                item.prediction,
                model_name=item.model_name,
                model_version=item.model_version,
                created_at=received_at,
            )
        )
        if item.embedding is not None and item.encoder:
            session.add(embedding_record(item.message.id, item.embedding, item.encoder))
    session.flush()

    for item in written:
        if (key := _platform_key(item.message)) is not None:
            stored[key] = inserted[item.message.id]
    return [
        stored[key] if (key := _platform_key(item.message)) is not None else inserted[item.message.id] for item in items
    ]


def _platform_key(message: Message) -> PlatformKey | None:
    return None if message.external_id is None else (str(message.channel), message.external_id)


def _message_row(message: Message, received_at: datetime, redact_text: bool) -> dict[str, Any]:
    return {
        "id": message.id,
        "external_id": message.external_id,
        "channel": str(message.channel),
        "space": message.space,
        "author": message.author,
        "thread_id": message.thread_id,
        "language": message.language,
        "text": redact(message.text) if redact_text else message.text,
        "meta": message.model_dump(mode="json", include={"metadata"})["metadata"],
        "created_at": message.created_at,
        "received_at": received_at,
    }


def _find_many(session: Session, keys: set[PlatformKey]) -> dict[PlatformKey, MessageRecord]:
    found: dict[PlatformKey, MessageRecord] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), _ROWS_PER_STATEMENT):
        chunk = ordered[start : start + _ROWS_PER_STATEMENT]
        rows = session.scalars(
            select(MessageRecord).where(tuple_(MessageRecord.channel, MessageRecord.external_id).in_(chunk))
        )
        found.update(((row.channel, row.external_id), row) for row in rows if row.external_id is not None)
    return found


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> dict[str, MessageRecord]:
    """Insert message rows, skipping any whose (channel, external_id) is taken; the inserted, by id."""
    inserted: dict[str, MessageRecord] = {}
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        statement = _insert_skipping_taken(session, rows[start : start + _ROWS_PER_STATEMENT])
        inserted.update((record.id, record) for record in session.scalars(statement.returning(MessageRecord)))
    return inserted


def _insert_skipping_taken(session: Session, rows: list[dict[str, Any]]) -> postgresql.Insert | sqlite.Insert:
    taken = ["channel", "external_id"]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(MessageRecord).values(rows).on_conflict_do_nothing(index_elements=taken)
    if dialect == "sqlite":
        return sqlite.insert(MessageRecord).values(rows).on_conflict_do_nothing(index_elements=taken)
    raise NotImplementedError(f"the message store runs on SQLite or PostgreSQL, not {dialect}")
