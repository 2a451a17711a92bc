"""The review-order benchmark on tiny inline data: cross-fitted curves, a good order beats random, reports."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evaluation.review_benchmark import (
    RANDOM,
    LabelledSet,
    ReviewBenchmarkSpec,
    curve_png,
    curve_table,
    fold_of,
    run_review_benchmark,
)
from models.prediction import Prediction

LABELS = {"intent": ["spam", "feedback", "support_request"], "sentiment": ["negative", "neutral", "positive"]}
SPEC = ReviewBenchmarkSpec(budgets=(0, 10, 30), folds=3, random_seeds=3)


def data() -> tuple[LabelledSet, LabelledSet]:
    """Base data knows spam and feedback only; the reviewed messages add support_request, which reviews must teach."""
    rng = np.random.default_rng(3)
    centres = np.eye(3, 8) * 3.0
    base_y = [0] * 40 + [1] * 40
    base_x = np.stack([centres[c] + rng.normal(size=8) for c in base_y])
    gold_y = [0] * 20 + [1] * 20 + [2] * 20
    gold_x = np.stack([centres[c] + rng.normal(size=8) for c in gold_y])
    sentiment = {0: "negative", 1: "neutral", 2: "negative"}
    base = LabelledSet(
        base_x,
        {"intent": [LABELS["intent"][c] for c in base_y], "sentiment": [sentiment[c] for c in base_y]},
    )
    gold = LabelledSet(
        gold_x,
        {"intent": [LABELS["intent"][c] for c in gold_y], "sentiment": [sentiment[c] for c in gold_y]},
        [f"g{i:03d}" for i in range(60)],
    )
    return base, gold


def unsure_first(message_id: str, prediction: Prediction) -> float:
    """Least confident intent first: the unseen class sits between the known ones."""
    return 1.0 - prediction.heads["intent"].probability


def test_folds_are_a_stable_hash_of_the_id():
    parts = [fold_of(f"g{i}", 4) for i in range(400)]
    assert set(parts) == {0, 1, 2, 3} and min(parts.count(k) for k in range(4)) > 60
    assert parts == [fold_of(f"g{i}", 4) for i in range(400)]


def test_curves_start_equal_and_reviews_teach_the_missing_class():
    base, gold = data()
    result = run_review_benchmark(base, gold, LABELS, {"uncertain first": unsure_first}, SPEC)
    assert result.orders() == ["uncertain first", RANDOM]
    assert result.heads == ["intent", "sentiment"] and result.rows == {"base": 80, "reviewed": 60, "folds": 3}
    queue, rand = result.curve("uncertain first", "intent"), result.curve(RANDOM, "intent")
    assert [b for b, _, _ in queue] == [0, 10, 30]
    assert queue[0][1] == pytest.approx(rand[0][1]) and rand[0][2] == 0.0
    # Without reviews support_request is never predicted; 30 reviews per part teach it.
    assert queue[0][1] < 0.7 and queue[-1][1] > queue[0][1] + 0.2 and rand[-1][1] > rand[0][1] + 0.2
    assert result.gains("uncertain first")["intent"] > 0
    # The base model calls every support_request something else: each one reviewed is a correction.
    first = next(p for p in result.points if p.order == "uncertain first" and p.budget == 10)
    assert 0 < first.corrected["intent"] <= 1 and first.corrected["sentiment"] <= first.corrected["intent"]
    assert next(p for p in result.points if p.budget == 0).corrected == {}
    # Each budget is counted per part: 3 parts x 10 corrections.
    assert [p.reviewed for p in result.points if p.order == RANDOM] == [0, 30, 90]


def test_the_benchmark_is_deterministic_and_reports_are_written(tmp_path):
    base, gold = data()
    first = run_review_benchmark(base, gold, LABELS, {"uncertain first": unsure_first}, SPEC)
    again = run_review_benchmark(base, gold, LABELS, {"uncertain first": unsure_first}, SPEC)
    assert first.to_dict() == again.to_dict()
    report = json.loads(json.dumps(first.to_dict()))
    assert set(report["gain_over_random"]) == {"uncertain first"}
    lines = curve_table(first)
    assert len(lines) == 6 and "±" in lines[0][2][1]
    png = curve_png(first, tmp_path / "curve.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_input_is_refused():
    base, gold = data()
    no_ids = LabelledSet(gold.embeddings, gold.labels)
    with pytest.raises(ValueError, match="id"):
        run_review_benchmark(base, no_ids, LABELS, {}, SPEC)
    with pytest.raises(ValueError, match="folds"):
        run_review_benchmark(base, gold, LABELS, {}, ReviewBenchmarkSpec(folds=1))
