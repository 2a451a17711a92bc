"""Retraining from reviews: the snapshot, the frozen holdout, the strict gate and what MLflow records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data.taxonomy import default_taxonomy
from tests.conftest import tiny_config, tiny_rows, write_jsonl
from training.config import TrainingConfig
from training.gate import IMPROVEMENT_EPSILON, compare
from training.registry import CHAMPION, configure_mlflow, model_by_alias
from training.retrain import (
    HOLDOUT,
    REVIEWS,
    NoReviews,
    ReviewedItem,
    in_holdout,
    retrain,
    reviewed_items,
    snapshot_config,
    write_snapshot,
)
from training.trainer import Trainer, assemble

PRODUCT_TEXTS = [
    "my zorblax {} will not turn on",
    "zorblax {} stuck on the boot screen",
    "the zorblax {} battery died again",
    "zorblax {} screen went black help",
    "cannot pair the zorblax {} anymore",
]
MODELS = ["x1", "x2", "mini", "pro", "max", "air", "neo", "one"]


def review_row(message_id: str, text: str, status: str = "submitted", current: bool = True, **labels: str) -> dict:
    """A row shaped like `tidings export reviews` writes (the fields retraining reads)."""
    return {
        "message_id": message_id,
        "text": text,
        "status": status,
        "current": current,
        "reviewed_at": "2026-03-02T09:00:00+00:00",
        "predicted_intent": "spam",
        **{h: labels.get(h) for h in ("intent", "urgency", "sentiment")},
    }


def product_reviews() -> list[dict]:
    """40 messages about a product the tiny data never mentions, reviewed as support requests (intent only)."""
    return [
        review_row(f"zorb-{n}", template.format(model), intent="support_request")
        for n, (template, model) in enumerate((t, m) for m in MODELS for t in PRODUCT_TEXTS)
    ]


def tiny_files(root: Path) -> tuple[Path, Path]:
    """The tiny rows to train on, and the same rows with a word added as the gate set."""
    rows = tiny_rows()
    gate = [{**r, "text": r["text"] + " thanks"} for r in rows]
    return write_jsonl(root / "train.jsonl", rows), write_jsonl(root / "gate.jsonl", gate)


def full_batch(raw: dict) -> dict:
    """A tiny config fitted in full batches without dropout: a head the reviews do not label fits as before.

    With mini-batches or dropout, added rows reshuffle every head's batches or masks, and on 24 gate
    rows that noise alone moves macro-F1 by more than the gate allows.
    """
    return {**raw, "classifier": {**raw["classifier"], "dropout": 0.0}, "heads": {**raw["heads"], "batch_size": 1024}}


def test_holdout_is_a_stable_hash_of_the_message_id(tmp_path):
    items = [ReviewedItem(f"m{n}", f"text {n}", {"intent": "spam"}) for n in range(200)]
    first = write_snapshot(items[:100], tmp_path / "a", 0.2)
    grown = write_snapshot(items, tmp_path / "b", 0.2)
    held = {json.loads(line)["id"] for line in first.holdout.read_text().splitlines()}
    held_later = {json.loads(line)["id"] for line in grown.holdout.read_text().splitlines()}
    assert held == {i.message_id for i in items[:100] if in_holdout(i.message_id, 0.2)}
    assert held <= held_later and not held_later & {f"m{n}" for n in range(100) if f"m{n}" not in held}
    assert 20 <= grown.rows["holdout"] <= 60
    assert first.rows == {"reviewed": 100, "reviews_train": 100 - len(held), "holdout": len(held)}
    assert first.digest != grown.digest and (tmp_path / "a" / "fingerprint.json").exists()


def test_only_current_submitted_reviews_count_and_empty_heads_stay_unlabelled(tmp_path):
    rows = [
        review_row("a", "first text", status="draft", intent="spam"),
        review_row("a", "first text", current=False, intent="other"),
        review_row("a", "first text", intent="feedback", sentiment=None),
        review_row("b", "second text", status="discarded", intent="spam"),
        {**review_row("c", "third text", intent="spam"), "reviewed_at": "2026-03-01T00:00:00+00:00"},
        review_row("c", "third text", intent="advocacy"),
    ]
    items = reviewed_items(write_jsonl(tmp_path / "reviews.jsonl", rows))
    assert items == [
        ReviewedItem("a", "first text", {"intent": "feedback", "urgency": None, "sentiment": None}),
        ReviewedItem("c", "third text", {"intent": "advocacy", "urgency": None, "sentiment": None}),
    ]


def test_reviews_override_base_rows_are_weighted_and_the_holdout_is_never_trained_on(tmp_path):
    base = tiny_rows()
    reviews = product_reviews()
    holdout_review = next(r for r in reviews if in_holdout(r["message_id"], 0.2))
    train_review = next(r for r in reviews if not in_holdout(r["message_id"], 0.2))
    # The base data disagrees with a training review and holds a near-duplicate of a holdout text.
    base += [
        {**train_review, "id": "base-1", "intent": "spam"},
        {**holdout_review, "id": "base-2", "text": holdout_review["text"].upper() + "!!"},
    ]
    config = TrainingConfig.from_dict(
        tiny_config(write_jsonl(tmp_path / "base.jsonl", base), write_jsonl(tmp_path / "gate.jsonl", tiny_rows()))
    )
    items = reviewed_items(write_jsonl(tmp_path / "reviews.jsonl", reviews))
    snap = write_snapshot(items, tmp_path / "snap", 0.2)
    config = snapshot_config(config, snap.train, snap.holdout, review_weight=2.0)
    assert [s.name for s in config.sources] == [REVIEWS, "tiny"] and config.sources[0].weight == 2.0
    assert [g.name for g in config.gate_sets] == ["gate", HOLDOUT]

    data = assemble(config, default_taxonomy(), {HOLDOUT})
    pool = data.train + data.validation
    by_text = {i.message.text: i for i in pool}
    assert by_text[train_review["text"]].labels.intent == "support_request"
    assert by_text[train_review["text"]].weight == 2.0
    held = {json.loads(line)["text"].lower() for line in snap.holdout.read_text().splitlines()}
    assert held and not {t.lower().rstrip("!") for t in by_text} & held
    assert len(data.gate_sets[HOLDOUT]) == snap.rows["holdout"]


def test_retrain_refuses_without_submitted_reviews(settings, tmp_path):
    drafts = write_jsonl(tmp_path / "reviews.jsonl", [review_row("a", "text", status="draft", intent="spam")])
    with pytest.raises(NoReviews, match="no submitted reviews"):
        retrain(drafts, settings)
    with pytest.raises(NoReviews):
        retrain(write_jsonl(tmp_path / "empty.jsonl", []), settings)


def test_the_strict_gate_names_the_improving_head_or_keeps_the_champion():
    champion = {"gate": {"intent": {"macro_f1": 0.70}, "urgency": {"macro_f1": 0.60}}}
    same = compare(champion, champion, require_improvement=True, min_improvement=IMPROVEMENT_EPSILON)
    assert not same.promote and "no head improves" in same.reason
    tiny_gain = {"gate": {"intent": {"macro_f1": 0.704}, "urgency": {"macro_f1": 0.60}}}
    assert not compare(tiny_gain, champion, require_improvement=True, min_improvement=IMPROVEMENT_EPSILON).promote
    gain = {"gate": {"intent": {"macro_f1": 0.75}, "urgency": {"macro_f1": 0.595}}}
    verdict = compare(gain, champion, require_improvement=True, min_improvement=IMPROVEMENT_EPSILON)
    assert verdict.promote and verdict.reason.startswith("intent on gate improves +0.050")
    assert compare(champion, champion).promote  # plain `tidings train` keeps its rule


@pytest.mark.slow
def test_retrain_promotes_when_reviews_teach_something_and_keeps_the_champion_otherwise(settings, tmp_path):
    config = TrainingConfig.from_dict(full_batch(tiny_config(*tiny_files(tmp_path))))
    parent = Trainer(config, settings).run().version
    reviews = write_jsonl(tmp_path / "reviews.jsonl", product_reviews())

    first = retrain(reviews, settings)
    assert first.parent_version == parent and first.rows["reviewed"] == 40
    assert first.promoted, first.verdict.table()
    assert "on reviewed_holdout improves" in first.reason
    assert model_by_alias(CHAMPION, settings).version == first.version != parent

    import mlflow

    configure_mlflow(settings)
    run = mlflow.get_run(first.run_id)
    assert run.data.tags["retrain.parent_version"] == parent
    assert run.data.tags["retrain.snapshot.digest"] == first.digest
    assert run.data.params["retrain.rows.holdout"] == str(first.rows["holdout"])
    assert run.data.params["retrain.review_weight"] == "2.0"
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(first.run_id, "gate")}
    assert {"gate/comparison.md", "gate/per_class.md"} <= artifacts

    # The same reviews again teach nothing new: the champion stays, and the verdict says why.
    second = retrain(reviews, settings)
    assert not second.promoted and "no head improves" in second.reason
    assert model_by_alias(CHAMPION, settings).version == first.version
    assert TrainingConfig.from_dict(json.loads((second.snapshot / "config.json").read_text())).name == "tiny+reviews"
