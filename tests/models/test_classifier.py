import json
from pathlib import Path

import numpy as np
import pytest
import torch

from data.taxonomy import default_taxonomy
from models.classifier import MISSING, ClassifierSpec, HeadFitParams, MessageClassifier, masked_loss
from models.encoders import HashingEncoder
from models.prediction import AbstainReason
from tests.conftest import tiny_rows


@pytest.fixture(scope="module")
def fitted() -> MessageClassifier:
    rows = tiny_rows()
    model = MessageClassifier(
        default_taxonomy(), HashingEncoder(dim=256), ClassifierSpec(encoder="hashing.v1", hidden=0)
    )
    embeddings = model.embed([r["text"] for r in rows])
    targets = model.encode_targets(rows)
    model.fit(embeddings, targets, params=HeadFitParams(epochs=150, lr=0.05, batch_size=8))
    return model


def test_classifier_learns_its_training_labels(fitted):
    rows = tiny_rows()
    predictions = fitted.predict([r["text"] for r in rows])
    accuracy = np.mean([p["intent"].label == r["intent"] for p, r in zip(predictions, rows, strict=True)])
    assert accuracy >= 0.9


def test_every_head_returns_a_full_probability_distribution(fitted):
    (prediction,) = fitted.predict(["where is my refund"])
    for head in ("intent", "urgency", "sentiment"):
        h = prediction[head]
        assert set(h.probabilities) == set(default_taxonomy()[head].labels)
        assert sum(h.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
        assert h.probability == max(h.probabilities.values())
        assert h.label == max(h.probabilities, key=h.probabilities.__getitem__)


def test_empty_and_wordless_text_abstain_with_their_reason(fitted):
    empty, emoji = fitted.predict(["   ", "😂😂 !!"])
    assert all(h.abstained and h.reason is AbstainReason.EMPTY_TEXT for h in empty.heads.values())
    assert all(h.abstained and h.reason is AbstainReason.OUT_OF_SCOPE for h in emoji.heads.values())
    assert empty.needs_review


def test_a_confidence_threshold_above_the_probability_makes_the_head_abstain(fitted):
    fitted.thresholds_["intent"] = 1.01
    try:
        (prediction,) = fitted.predict(["how much is the pro plan"])
    finally:
        fitted.thresholds_["intent"] = 0.0
    assert prediction["intent"].abstained
    assert prediction["intent"].reason is AbstainReason.LOW_CONFIDENCE
    assert prediction.to_dict()["intent"]["reason"] == "low_confidence"


def test_masked_loss_ignores_rows_without_a_label_on_a_head():
    logits = {"a": torch.tensor([[5.0, -5.0], [-5.0, 5.0]], requires_grad=True)}
    with_missing = masked_loss(logits, {"a": torch.tensor([0, MISSING])}, torch.ones(2), {"a": None})
    only_first = masked_loss({"a": logits["a"][:1]}, {"a": torch.tensor([0])}, torch.ones(1), {"a": None})
    assert with_missing.item() == pytest.approx(only_first.item())
    none_labelled = masked_loss(logits, {"a": torch.tensor([MISSING, MISSING])}, torch.ones(2), {"a": None})
    assert none_labelled.item() == 0.0


def test_a_head_with_no_labels_is_left_untouched_by_fit():
    rows = [{**r, "urgency": None} for r in tiny_rows()]
    model = MessageClassifier(
        default_taxonomy(), HashingEncoder(dim=64), ClassifierSpec(encoder="hashing.v1", hidden=0)
    )
    before = {k: v.clone() for k, v in model.net_.heads["urgency"].state_dict().items()}
    targets = model.encode_targets(rows)
    assert (targets["urgency"] == MISSING).all()
    model.fit(model.embed([r["text"] for r in rows]), targets, params=HeadFitParams(epochs=3, weight_decay=0.0))
    for k, v in model.net_.heads["urgency"].state_dict().items():
        torch.testing.assert_close(v, before[k])


def test_calibrate_sets_a_temperature_and_threshold_per_head(fitted):
    rows = tiny_rows()
    report = fitted.calibrate(fitted.embed([r["text"] for r in rows]), fitted.encode_targets(rows))
    assert set(report) == {"intent", "urgency", "sentiment"}
    assert all(v["temperature"] > 0 and 0 <= v["threshold"] <= 1 for v in report.values())


def test_save_and_load_round_trip_without_pickle(fitted, tmp_path: Path):
    fitted.temperatures_["intent"] = 1.7
    path = fitted.save(tmp_path / "model", extra={"note": "round trip"})
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "heads.safetensors"]
    config = json.loads((path / "config.json").read_text())
    assert config["note"] == "round trip" and config["versions"]["torch"]
    loaded = MessageClassifier.load(path)
    texts = ["do you ship to canada", "you are a worthless idiot"]
    for head, probs in fitted.predict_proba(texts).items():
        np.testing.assert_allclose(loaded.predict_proba(texts)[head], probs, rtol=1e-6)
    assert loaded.temperatures_["intent"] == 1.7


def test_load_refuses_a_directory_that_is_not_a_tidings_model(tmp_path: Path):
    (tmp_path / "config.json").write_text(json.dumps({"kind": "something.else"}))
    with pytest.raises(ValueError, match="not a MessageClassifier"):
        MessageClassifier.load(tmp_path)
