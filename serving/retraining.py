"""Retraining from the store: export the current submitted reviews, then run `training.retrain` on them."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from data.settings import Settings
from serving.store.db import make_engine, make_sessionmaker
from serving.store.review_export import review_rows
from training.retrain import RetrainResult, retrain


def export_submitted_reviews(settings: Settings, output: Path) -> int:
    """Write every reviewer's current submitted review, with its message, as JSONL; returns the row count."""
    engine = make_engine(settings.store_url)
    written = 0
    try:
        with make_sessionmaker(engine)() as session, output.open("w", encoding="utf-8") as f:
            for row in review_rows(session, current_only=True, status="submitted"):
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                written += 1
    finally:
        engine.dispose()
    return written


def retrain_from_store(
    settings: Settings, holdout_fraction: float = 0.2, review_weight: float = 2.0, reviews_file: Path | None = None
) -> RetrainResult:
    """Retrain on `reviews_file`, or on the store's submitted reviews; raises NoReviews when there are none."""
    if reviews_file is not None:
        return retrain(reviews_file, settings, holdout_fraction=holdout_fraction, review_weight=review_weight)
    with tempfile.TemporaryDirectory() as tmp:
        exported = Path(tmp) / "reviews.jsonl"
        export_submitted_reviews(settings, exported)
        return retrain(exported, settings, holdout_fraction=holdout_fraction, review_weight=review_weight)
