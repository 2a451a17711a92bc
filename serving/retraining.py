"""Retraining from the store: flag likely reviewer mistakes, export the submitted reviews, run `training.retrain`.

Every retrain from the store is recorded in `retrain_runs` (what started it, when, how it ended),
so the review trigger can count the reviews submitted since the last one. One retrain runs per
process at a time: callers hold `RETRAIN_LOCK`.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from data.settings import Settings
from serving.review_flagging import flag_label_issues
from serving.store.db import make_engine, make_sessionmaker
from serving.store.retrain_runs import finish_run, start_run
from serving.store.review_export import review_rows
from serving.store.review_queue import QueueRules
from training.retrain import RetrainResult, retrain

RETRAIN_LOCK = threading.Lock()
log = logging.getLogger("tidings.retraining")

RetrainFunction = Callable[..., RetrainResult]


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
    settings: Settings,
    holdout_fraction: float = 0.2,
    review_weight: float = 2.0,
    reviews_file: Path | None = None,
    *,
    started_by: str = "admin",
    train: RetrainFunction = retrain,
) -> RetrainResult:
    """Retrain on `reviews_file`, or on the store's submitted reviews; raises NoReviews when there are none.

    From the store, the run is recorded in `retrain_runs` and the reviewed labels are first checked
    for likely mistakes (`serving.review_flagging`): new flags go back to the queue for a second
    reviewer, and `RetrainResult.flagged` says how many. Flagged labels are still trained on: a flag
    asks for a second look, it does not overrule the reviewer. A failing check is logged, not fatal.
    `train` is the training step (`training.retrain.retrain`; tests pass a cheap one).
    """
    if reviews_file is not None:
        return train(reviews_file, settings, holdout_fraction=holdout_fraction, review_weight=review_weight)
    engine = make_engine(settings.store_url)
    sessions = make_sessionmaker(engine)
    try:
        with sessions() as session:
            run_id = start_run(session, started_by).id
            session.commit()
        flagged = None
        try:
            with sessions() as session:
                flags = flag_label_issues(session, QueueRules.from_settings(settings))
            flagged = len(flags.flagged)
            log.info("label check before retrain: %s", flags.summary())
        except Exception:
            log.exception("the label check before retraining failed; retraining anyway")
        try:
            with tempfile.TemporaryDirectory() as tmp:
                exported = Path(tmp) / "reviews.jsonl"
                export_submitted_reviews(settings, exported)
                result = train(exported, settings, holdout_fraction=holdout_fraction, review_weight=review_weight)
        except Exception as e:
            with sessions() as session:
                finish_run(session, run_id, failed=True, detail=f"{type(e).__name__}: {e}")
                session.commit()
            raise
        result.flagged = flagged
        with sessions() as session:
            finish_run(session, run_id, version=result.version, promoted=result.promoted, detail=result.reason)
            session.commit()
        return result
    finally:
        engine.dispose()
