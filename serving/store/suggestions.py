"""The model's suggestions: a `Prediction` written as one row per head, and read back."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.prediction import AbstainReason, HeadPrediction, Prediction
from serving.store.tables import SuggestionRecord

_IDS_PER_QUERY = 1000


@dataclass(frozen=True)
class StoredClassification:
    """A stored prediction for one message and the model that made it."""

    message_id: str
    prediction: Prediction
    model_name: str
    model_version: str


def suggestion_records(
    message_id: str, prediction: Prediction, *, model_name: str, model_version: str, created_at: datetime
) -> list[SuggestionRecord]:
    """One row per head of `prediction`, in head order."""
    return [
        SuggestionRecord(
            message_id=message_id,
            head=head,
            label=answer.label,
            probability=float(answer.probability),
            probabilities={label: float(p) for label, p in answer.probabilities.items()},
            abstained=bool(answer.abstained),
            reason=str(answer.reason) if answer.reason else None,
            model_name=model_name,
            model_version=model_version,
            created_at=created_at,
        )
        for head, answer in prediction.heads.items()
    ]


def stored_prediction(
    session: Session, message_id: str, model_version: str | None = None
) -> StoredClassification | None:
    """The prediction stored for a message by `model_version`, or by the latest model to classify it.

    None when that message has no suggestions (from that version).
    """
    query = select(SuggestionRecord).where(SuggestionRecord.message_id == message_id)
    if model_version is not None:
        query = query.where(SuggestionRecord.model_version == model_version)
    rows = list(session.scalars(query.order_by(SuggestionRecord.id)))
    if not rows:
        return None
    latest = max(rows, key=lambda row: (row.created_at, row.id))
    return _classification([row for row in rows if row.model_version == latest.model_version])


def stored_predictions(session: Session, message_ids: Sequence[str]) -> dict[tuple[str, str], StoredClassification]:
    """Every prediction stored for these messages, keyed by (message id, model version)."""
    grouped: dict[tuple[str, str], list[SuggestionRecord]] = defaultdict(list)
    ids = sorted(set(message_ids))
    for start in range(0, len(ids), _IDS_PER_QUERY):
        query = select(SuggestionRecord).where(SuggestionRecord.message_id.in_(ids[start : start + _IDS_PER_QUERY]))
        for row in session.scalars(query.order_by(SuggestionRecord.id)):
            grouped[(row.message_id, row.model_version)].append(row)
    return {key: _classification(rows) for key, rows in grouped.items()}


def _classification(rows: Sequence[SuggestionRecord]) -> StoredClassification:
    """One model version's rows for one message, as a prediction."""
    heads = {
        row.head: HeadPrediction(
            label=row.label,
            probability=row.probability,
            probabilities=dict(row.probabilities),
            abstained=row.abstained,
            reason=AbstainReason(row.reason) if row.reason else None,
        )
        for row in rows
    }
    first = rows[0]
    return StoredClassification(first.message_id, Prediction(heads), first.model_name, first.model_version)
