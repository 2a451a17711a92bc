"""Retraining from reviews: a snapshot of base data plus submitted reviews, a frozen holdout, a strict gate."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from data.dataset import fingerprint, split_bucket
from data.settings import Settings, get_settings
from training.config import SourceSpec, TrainingConfig
from training.gate import IMPROVEMENT_EPSILON, GateVerdict
from training.registry import CHAMPION, ModelRef, download_classifier, model_by_alias
from training.trainer import Trainer

HOLDOUT = "reviewed_holdout"
REVIEWS = "reviews"
HEADS = ("intent", "urgency", "sentiment")
# Fixed forever: changing it would move reviewed messages between the holdout and training.
_HOLDOUT_SEED = 29


class NoReviews(ValueError):
    """There are no submitted reviews (or none left for training) to retrain from."""


@dataclass(frozen=True)
class ReviewedItem:
    """One reviewed message as training data: its text and the review's label per head (None: unlabelled)."""

    message_id: str
    text: str
    labels: dict[str, str | None]

    def to_row(self) -> dict[str, Any]:
        """The JSONL row a path source reads."""
        return {"id": self.message_id, "text": self.text, **self.labels}


@dataclass
class RetrainResult:
    """What a retrain did: the run, the version registered, the verdict and the snapshot behind it."""

    run_id: str | None
    version: str | None
    parent_version: str | None
    verdict: GateVerdict | None
    snapshot: Path
    digest: str
    rows: dict[str, int]
    metrics: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # Set by the caller that checked the reviewed labels first: how many it newly flagged (None: not checked).
    flagged: int | None = None

    @property
    def promoted(self) -> bool:
        """True when the challenger became champion."""
        return bool(self.verdict and self.verdict.promote)

    @property
    def reason(self) -> str:
        """The gate's reason, in words."""
        return self.verdict.reason if self.verdict else "not gated"


def reviewed_items(reviews_file: Path) -> list[ReviewedItem]:
    """One item per message from a `tidings export reviews` JSONL file: its current submitted review.

    Rows that are not submitted, or not the reviewer's current revision, are ignored. When several
    reviewers submitted, the latest review wins. A head the reviewer left empty stays unlabelled;
    the model's suggestion is never used as a label.
    """
    latest: dict[str, dict[str, Any]] = {}
    with reviews_file.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            if row.get("status") != "submitted" or row.get("current") is False:
                continue
            key = row["message_id"]
            seen = latest.get(key)
            if seen is None or (row.get("reviewed_at") or "") >= (seen.get("reviewed_at") or ""):
                latest[key] = row
    items = [
        ReviewedItem(mid, row["text"], {h: row.get(h) or None for h in HEADS}) for mid, row in sorted(latest.items())
    ]
    return [i for i in items if any(i.labels.values()) and i.text.strip()]


def in_holdout(message_id: str, holdout_fraction: float) -> bool:
    """Whether a reviewed message belongs to the frozen holdout: a hash of its id, stable forever."""
    return split_bucket(message_id, seed=_HOLDOUT_SEED) < holdout_fraction


def base_config(settings: Settings) -> tuple[TrainingConfig, ModelRef | None]:
    """The champion's own training config (saved beside its weights), else the default config."""
    ref = model_by_alias(CHAMPION, settings)
    if ref is not None:
        saved = json.loads((download_classifier(ref, settings) / "config.json").read_text(encoding="utf-8"))
        if "training_config" in saved:
            return TrainingConfig.from_dict(saved["training_config"]), ref
    return TrainingConfig.from_yaml(settings.default_config), ref


@dataclass(frozen=True)
class Snapshot:
    """The reviewed part of a retraining snapshot: its files, row counts and fingerprint digest."""

    root: Path
    train: Path
    holdout: Path
    rows: dict[str, int]
    digest: str


def write_snapshot(items: list[ReviewedItem], root: Path, holdout_fraction: float) -> Snapshot:
    """Split reviewed items into training and holdout JSONL files under `root`, with a fingerprint file."""
    root.mkdir(parents=True, exist_ok=True)
    train = [i for i in items if not in_holdout(i.message_id, holdout_fraction)]
    holdout = [i for i in items if in_holdout(i.message_id, holdout_fraction)]
    train_path, holdout_path = root / "reviews_train.jsonl", root / "reviews_holdout.jsonl"
    for path, part in ((train_path, train), (holdout_path, holdout)):
        path.write_text("".join(json.dumps(i.to_row(), ensure_ascii=False) + "\n" for i in part), encoding="utf-8")
    rows = {"reviewed": len(items), "reviews_train": len(train), "holdout": len(holdout)}
    fp = fingerprint([train_path, holdout_path], rows)
    (root / "fingerprint.json").write_text(json.dumps(fp, indent=2), encoding="utf-8")
    return Snapshot(root, train_path, holdout_path, rows, str(fp["digest"]))


def snapshot_config(
    config: TrainingConfig, train_path: Path, holdout_path: Path | None, review_weight: float
) -> TrainingConfig:
    """The base config with the reviews first among the sources (so they win deduplication) and the holdout gate set."""
    raw = config.to_dict()
    base_sources = [s for s in raw["sources"] if s["name"] != REVIEWS]
    base_gates = [g for g in raw["gate_sets"] if g["name"] != HOLDOUT]
    raw["sources"] = [vars(SourceSpec(REVIEWS, path=str(train_path), weight=review_weight)), *base_sources]
    raw["gate_sets"] = base_gates + ([vars(SourceSpec(HOLDOUT, path=str(holdout_path)))] if holdout_path else [])
    raw["name"] = config.name if config.name.endswith("+reviews") else f"{config.name}+reviews"
    return TrainingConfig.from_dict(raw)


def retrain(
    reviews_file: Path,
    settings: Settings | None = None,
    base_config_path: Path | None = None,
    holdout_fraction: float = 0.2,
    review_weight: float = 2.0,
) -> RetrainResult:
    """Train a challenger on base data plus submitted reviews; promote it only if it is measurably better.

    `reviews_file` is a `tidings export reviews` JSONL file. Reviewed messages are split by a hash
    of their id into a frozen holdout (`holdout_fraction`, never trained on, nor its near-duplicates)
    and a training part weighted by `review_weight`. The gate compares with the champion on the
    config's gate sets and the holdout: no head's macro-F1 may drop by more than 0.01, and one must
    rise by more than `IMPROVEMENT_EPSILON`. Raises NoReviews when there is nothing to train on.
    """
    settings = settings or get_settings()
    if not 0 < holdout_fraction < 1:
        raise ValueError("holdout_fraction must be between 0 and 1")
    if review_weight <= 0:
        raise ValueError("review_weight must be positive")
    items = reviewed_items(reviews_file)
    if not items:
        raise NoReviews("no submitted reviews to retrain from: submit reviews first (POST /v1/reviews)")
    if base_config_path is not None:
        config, parent = TrainingConfig.from_yaml(base_config_path), model_by_alias(CHAMPION, settings)
    else:
        config, parent = base_config(settings)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    root = settings.data_dir / "snapshots" / stamp
    snap = write_snapshot(items, root, holdout_fraction)
    rows = snap.rows
    if rows["reviews_train"] == 0:
        raise NoReviews(
            f"all {rows['reviewed']} reviewed messages fall in the frozen holdout: submit more reviews to train on"
        )
    config = snapshot_config(config, snap.train, snap.holdout if rows["holdout"] else None, review_weight)
    (root / "config.json").write_text(json.dumps(config.to_dict(), indent=2), encoding="utf-8")
    parent_version = parent.version if parent else None
    trainer = Trainer(
        config,
        settings,
        strict_gate_sets={HOLDOUT},
        require_improvement=True,
        min_improvement=IMPROVEMENT_EPSILON,
        run_tags={
            "kind": "retrain",
            "retrain.parent_version": parent_version or "none",
            "retrain.snapshot.digest": snap.digest,
            "retrain.snapshot.dir": str(root),
        },
        run_params={
            "retrain.holdout_fraction": holdout_fraction,
            "retrain.review_weight": review_weight,
            **{f"retrain.rows.{k}": v for k, v in rows.items()},
        },
    )
    result = trainer.run()
    return RetrainResult(
        run_id=result.run_id,
        version=result.version,
        parent_version=parent_version,
        verdict=result.verdict,
        snapshot=root,
        digest=snap.digest,
        rows=rows,
        metrics=result.metrics,
    )
