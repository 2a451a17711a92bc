"""Reviews as flat rows for export: the message, the suggestion under review, the review and its provenance."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.redaction import redact
from data.settings import get_settings
from serving.store.review_queue import HEADS
from serving.store.review_tables import ReviewRecord
from serving.store.reviews import latest_revisions
from serving.store.suggestions import stored_predictions
from serving.store.tables import MessageRecord

_ROWS_PER_CHUNK = 500

MESSAGE_COLUMNS = ("message_id", "external_id", "channel", "space", "thread_id", "created_at", "text")
PREDICTION_COLUMNS = (
    "model_name",
    "model_version",
    *(f"predicted_{head}{part}" for head in HEADS for part in ("", "_probability", "_abstained", "_reason")),
)
REVIEW_COLUMNS = ("reviewer_id", "reviewer_name", "revision", "current", "status", *HEADS, "note", "reviewed_at")
COLUMNS = (*MESSAGE_COLUMNS, *PREDICTION_COLUMNS, *REVIEW_COLUMNS)


def review_rows(
    session: Session, *, current_only: bool = False, status: str | None = None, redact_text: bool | None = None
) -> Iterator[dict[str, Any]]:
    """One row per review revision (or per current review), keyed by `COLUMNS`, by message, reviewer, revision.

    `current` says whether a revision is the reviewer's latest for that message; `status` keeps
    rows with that status (of the revision itself). Datetimes are ISO 8601 strings in UTC. Text is
    redacted (`data.redaction`) when `redact_text`, by default the setting `redact_exported_text`.
    """
    r = ReviewRecord
    latest = latest_revisions()
    is_current = r.revision == latest.c.revision
    query = (
        select(r, MessageRecord, is_current.label("current"))
        .join(MessageRecord, MessageRecord.id == r.message_id)
        .join(latest, (latest.c.message_id == r.message_id) & (latest.c.reviewer_id == r.reviewer_id))
        .order_by(r.message_id, r.reviewer_id, r.revision)
    )
    if current_only:
        query = query.where(is_current)
    if status is not None:
        query = query.where(r.status == status)
    if redact_text is None:
        redact_text = get_settings().redact_exported_text
    chunk: list[tuple[ReviewRecord, MessageRecord, bool]] = []
    for review, message, current in session.execute(query):
        chunk.append((review, message, bool(current)))
        if len(chunk) >= _ROWS_PER_CHUNK:
            yield from _rows(session, chunk, redact_text)
            chunk = []
    yield from _rows(session, chunk, redact_text)


def _rows(
    session: Session, chunk: list[tuple[ReviewRecord, MessageRecord, bool]], redact_text: bool
) -> Iterator[dict[str, Any]]:
    if not chunk:
        return
    shown = stored_predictions(session, [review.message_id for review, _, _ in chunk])
    for review, message, current in chunk:
        row: dict[str, Any] = {
            "message_id": message.id,
            "external_id": message.external_id,
            "channel": message.channel,
            "space": message.space,
            "thread_id": message.thread_id,
            "created_at": message.created_at.isoformat(),
            "text": redact(message.text) if redact_text else message.text,
        }
        suggestion = shown.get((message.id, review.model_version or ""))
        row["model_name"] = suggestion.model_name if suggestion else None
        row["model_version"] = review.model_version
        for head in HEADS:
            answer = suggestion.prediction.heads.get(head) if suggestion else None
            row[f"predicted_{head}"] = answer.label if answer else None
            row[f"predicted_{head}_probability"] = answer.probability if answer else None
            row[f"predicted_{head}_abstained"] = answer.abstained if answer else None
            row[f"predicted_{head}_reason"] = str(answer.reason) if answer and answer.reason else None
        row.update(
            reviewer_id=review.reviewer_id,
            reviewer_name=review.reviewer_name,
            revision=review.revision,
            current=current,
            status=review.status,
            intent=review.intent,
            urgency=review.urgency,
            sentiment=review.sentiment,
            note=review.note,
            reviewed_at=review.created_at.isoformat(),
        )
        yield row
